package interchange

// Exported for tests.
var (
	SendFields = sendFields
	BodyFields = bodyFields
	MsgFields  = msgFields
)

// Check runs the relay's checks on a send frame.
func Check(p []byte) error {
	if !validPayload(p) {
		return errInvalid
	}
	if _, ok := typeOf(p); !ok {
		return errInvalid
	}
	_, err := parseRouted(p, false)
	return err
}

// CheckFast runs the relay's fast path on a send frame.
func CheckFast(p []byte) bool {
	typ, i, ok := scanType(p)
	if !ok || string(typ) != TypeSend {
		return false
	}
	_, ok = fastRouted(p, i, false)
	return ok
}

var errInvalid = errorString("invalid")

type errorString string

func (e errorString) Error() string { return string(e) }
