package tlsconf

import "golang.org/x/crypto/acme/autocert"

// ACMEManager returns the autocert manager of an ACME server, for tests.
func (s *Server) ACMEManager() *autocert.Manager { return s.acme }
