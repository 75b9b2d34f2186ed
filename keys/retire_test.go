package keys

import (
	"errors"
	"testing"
)

func TestCheckRetire(t *testing.T) {
	for _, c := range []struct {
		v    uint32
		have []uint32
		want error
	}{
		{1, []uint32{1, 2}, nil},
		{2, []uint32{1, 2, 3}, nil},
		{3, []uint32{1, 2, 3}, ErrWriteVersion},
		{1, []uint32{1}, ErrWriteVersion},
		{4, []uint32{1, 2}, ErrUnknownKey},
		{1, nil, ErrUnknownKey},
	} {
		err := CheckRetire("k", c.v, c.have)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("CheckRetire(%d, %v) = %v, want %v", c.v, c.have, err, c.want)
		}
	}
}
