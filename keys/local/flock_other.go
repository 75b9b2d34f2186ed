//go:build !unix

package local

import (
	"errors"
	"os"
)

// flock is not available: the pack store refuses rather than risk two
// processes creating the same subject's key twice.
func flock(*os.File, bool) (func(), error) {
	return nil, errors.New("local: subject key packs need flock(2), not available on this system")
}
