//go:build !linux

package local

import (
	"errors"
	"fmt"
	"os"
)

// syncFiles makes the files durable one fsync each: there is no syncfs(2)
// outside Linux.
func syncFiles(_ string, files []string) error {
	for _, name := range files {
		f, err := os.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("local: %w", err)
		}
		if err := errors.Join(f.Sync(), f.Close()); err != nil {
			return fmt.Errorf("local: %w", err)
		}
	}
	return nil
}
