package proxy

import (
	"bufio"
	"net"
)

// prefixConn reads first from a bufio.Reader that already holds bytes
// peeked off the connection, then from the connection itself. It lets a TLS
// handshake start on a connection whose first bytes phiguard has inspected.
type prefixConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }
