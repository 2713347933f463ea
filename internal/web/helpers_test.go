package web_test

import (
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
