// Package soak holds the chaos soak (issue 14): phiguard under load from
// clients of three roles in both protocols while its surroundings fail,
// then checks that nothing acknowledged was lost, nothing was stored or
// logged in plaintext, everything that ran was audited, and the process
// came back to the memory, goroutines and descriptors it had before.
//
// The package has no code of its own; TestSoak is the whole of it.
// `make test` runs a fixed-seed sample (45 s, 20 clients, 2,000 idle
// sockets), `make soak` ten minutes with 200 clients and 20,000 idle
// sockets. docs/soak.md describes the phases, the faults, the checks and
// how to read the figures.
package soak
