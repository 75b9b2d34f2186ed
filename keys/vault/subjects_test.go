package vault

import (
	"testing"

	"github.com/phiguard/phiguard/keys/subjecttest"
)

func TestSubjectStore(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			p := tg.provider(t)
			subjecttest.Run(t, p)
			if tg.emu != nil && tg.emu.Requests()["kv/destroy-versions"] == 0 {
				t.Error("shred did not destroy the old versions of the subject key")
			}
		})
	}
}
