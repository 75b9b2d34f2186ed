// Package race tells tests whether the race detector is on: it makes
// allocations of its own, so allocation counts mean nothing under it.
package race
