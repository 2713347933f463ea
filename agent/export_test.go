package agent

import "time"

// Hooks for the external tests (package agent_test).

// SetBeforePost makes c call f between sealing a message and posting it,
// with the attempt number (0, then 1 after a conflict, ...).
func SetBeforePost(c *Client, f func(attempt int)) { c.beforePost = f }

// MaxRekeys is the number of re-keys a send makes after conflicts.
const MaxRekeys = maxRekeys

// SetClock makes MoveTo read the time from now.
func SetClock(c *Client, now func() time.Time) { c.now = now }
