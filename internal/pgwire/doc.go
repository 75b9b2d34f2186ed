// Package pgwire is the PostgreSQL v3 protocol's vocabulary that the wire
// (package proxy) and the guard (package guard) share: the message type
// bytes of each direction, a reader that hands out typed messages without
// copying them (MsgReader), the error for a peer that breaks the protocol
// (ProtocolError), and the few messages both sides build themselves
// (Terminate, Flush, Query).
//
// It sits below both so that the guard never imports the wire: neither
// knows the other's types, only these bytes.
package pgwire
