package interchange

// Exported for tests.
var (
	SendFields = sendFields
	BodyFields = bodyFields
	MsgFields  = msgFields
)
