//go:build !unix

package audit

import (
	"errors"
	"os"
)

// tryFlock is not available: the file sink refuses rather than risk two
// processes interleaving one chain.
func tryFlock(*os.File) (bool, error) {
	return false, errors.New("the audit file sink needs flock(2), not available on this system")
}
