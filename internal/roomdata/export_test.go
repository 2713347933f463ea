package roomdata

// SetBeforeRename makes every Put of s call f after writing and syncing its
// temporary file, tmp, and before renaming it into place; an error from f
// fails the Put.
func SetBeforeRename(s *Store, f func(tmp string) error) { s.beforeRename = f }
