package guard

import "testing"

// TestUnreadCopyRefusal: only a request freshBeforeCopy wanted the
// catalog read before, whose read failed outside a transaction block, is
// refused.
func TestUnreadCopyRefusal(t *testing.T) {
	for _, c := range []struct {
		fresh, failedIdle, refused bool
	}{{false, false, false}, {true, false, false}, {false, true, false}, {true, true, true}} {
		s := &Session{}
		s.freshCopy = c.fresh
		s.readFailedUsable.Store(c.failedIdle)
		pe := s.unreadCopyRefusal()
		if (pe != nil) != c.refused || pe != nil && pe.Code != "0A000" {
			t.Errorf("fresh %v, failed idle %v: %v, want refused %v", c.fresh, c.failedIdle, pe, c.refused)
		}
	}
}
