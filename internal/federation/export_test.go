package federation

// Rewrite compacts q's file now, pending entries and all (as it does past
// rewriteAt).
func (q *Queue) Rewrite() error { return q.rewrite() }
