package tlsconf

import "golang.org/x/crypto/acme/autocert"

// ACMEManager returns the autocert manager of an ACME server, for tests.
func (s *Server) ACMEManager() *autocert.Manager { return s.acme }

// ACMEHTTPAddr returns where the HTTP-01 server listens, for tests.
func (s *Server) ACMEHTTPAddr() string { return s.acmeAddr.String() }
