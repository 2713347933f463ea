package web_test

import (
	"errors"
	"io"
	"net"
	"net/http"

	"github.com/gobwas/ws/wsutil"

	"github.com/the-mesh/mesh/internal/meshtest"
	"github.com/the-mesh/mesh/internal/node"
	"github.com/the-mesh/mesh/internal/web"
)

type (
	nodeConfig = node.Config
	webConfig  = web.Config
)

func writeText(c *meshtest.Client, s string) error {
	return wsutil.WriteClientText(c.Conn, []byte(s))
}

func httpGet(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
