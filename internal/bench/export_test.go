package bench

// Exported for the external tests.
var (
	BucketOf     = bucketOf
	BucketBounds = bucketBounds
	HistMaxUS    = histMaxUS
)
