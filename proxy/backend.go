package proxy

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// dialBackend opens a connection to the backend and, when backend TLS is
// configured, negotiates it with an SSLRequest exactly as libpq does. The
// returned connection is ready for a StartupMessage or CancelRequest.
func (srv *Server) dialBackend(ctx context.Context) (net.Conn, error) {
	timeout := srv.cfg.Backend.ConnectTimeout.Std()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := net.JoinHostPort(srv.cfg.Backend.Host, strconv.Itoa(srv.cfg.Backend.Port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial backend %s: %w", addr, err)
	}
	if srv.backendTLS == nil {
		return conn, nil
	}
	tc, err := startBackendTLS(ctx, conn, srv.backendTLS)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("backend %s: %w", addr, err)
	}
	return tc, nil
}

func startBackendTLS(ctx context.Context, conn net.Conn, cfg *tls.Config) (net.Conn, error) {
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
		defer conn.SetDeadline(time.Time{})
	}
	var req [8]byte
	binary.BigEndian.PutUint32(req[0:4], 8)
	binary.BigEndian.PutUint32(req[4:8], codeSSLRequest)
	if _, err := conn.Write(req[:]); err != nil {
		return nil, err
	}
	var answer [1]byte
	if _, err := io.ReadFull(conn, answer[:]); err != nil {
		return nil, err
	}
	if answer[0] != 'S' {
		return nil, fmt.Errorf("backend refused TLS (answered %q) but backend.tls.mode requires it", answer[0])
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("backend TLS handshake: %w", err)
	}
	return tc, nil
}

// forwardCancel delivers a client's CancelRequest to the backend session it
// names, if the proxy-issued key matches one. Like PostgreSQL, it never
// tells the client whether the key was right.
func (srv *Server) forwardCancel(ctx context.Context, h *clientHello) error {
	t, ok := srv.cancels.lookup(h.cancelPID, h.cancelSecret)
	if !ok {
		srv.metrics.CancelRequests.WithLabelValues("unknown_key").Inc()
		return nil
	}
	conn, err := srv.dialBackend(ctx)
	if err != nil {
		srv.metrics.CancelRequests.WithLabelValues("failed").Inc()
		return err
	}
	defer conn.Close()
	if _, err := conn.Write(cancelRequestPacket(t)); err != nil {
		srv.metrics.CancelRequests.WithLabelValues("failed").Inc()
		return err
	}
	// Wait for the backend to close, so the cancel has been handled before
	// the client's cancel connection goes away (as libpq expects).
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.Copy(io.Discard, conn)
	srv.metrics.CancelRequests.WithLabelValues("forwarded").Inc()
	return nil
}
