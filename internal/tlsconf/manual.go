package tlsconf

import (
	"crypto/tls"
	"fmt"
	"os"
	"time"
)

// reloadManual reads the certificate and key files and serves them. On
// error the certificate served so far stays.
func (s *Server) reloadManual() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	stamp := [2]fileStamp{stampOf(s.cfg.CertFile), stampOf(s.cfg.KeyFile)}
	s.stamp = stamp // a failed load is retried when the files change again
	cert, err := tls.LoadX509KeyPair(s.cfg.CertFile, s.cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("tls: load --tls-cert %s and --tls-key %s: %w", s.cfg.CertFile, s.cfg.KeyFile, err)
	}
	if st, err := os.Stat(s.cfg.KeyFile); err == nil && st.Mode().Perm()&0o004 != 0 {
		s.log.Warn("tls: the key file is readable by every user: chmod o-r it", "file", s.cfg.KeyFile)
	}
	now := s.now()
	switch leaf := cert.Leaf; {
	case now.After(leaf.NotAfter):
		s.log.Error("tls: the certificate has expired: clients will refuse it", "file", s.cfg.CertFile, "expired", leaf.NotAfter)
	case now.Add(RenewBefore).After(leaf.NotAfter):
		s.log.Warn("tls: the certificate expires soon: replace the files (they are read again when they change, or on SIGHUP)",
			"file", s.cfg.CertFile, "expires", leaf.NotAfter.Format(time.DateOnly))
	}
	if old := s.cert.Swap(&cert); old != nil {
		s.log.Info("tls: certificate reloaded", "file", s.cfg.CertFile, "subject", cert.Leaf.Subject.CommonName,
			"expires", cert.Leaf.NotAfter.Format(time.DateOnly))
	}
	return nil
}

// reloadIfChanged reloads the files if either one's modification time or
// size differs from the last load.
func (s *Server) reloadIfChanged() error {
	s.mu.Lock()
	changed := !stampOf(s.cfg.CertFile).same(s.stamp[0]) || !stampOf(s.cfg.KeyFile).same(s.stamp[1])
	s.mu.Unlock()
	if !changed {
		return nil
	}
	return s.reloadManual()
}
