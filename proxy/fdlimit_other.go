//go:build !unix

package proxy

func (srv *Server) warnFileLimit() {}
