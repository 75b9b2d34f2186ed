package audit

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkRecord measures Record plus the writer: b.N statements recorded
// from parallel goroutines and written to a file sink (Close waits for the
// last write), so ns/op is the sustained cost per record and records/s the
// writer's throughput. A full queue is retried, as a blocked client would.
func BenchmarkRecord(b *testing.B) {
	for _, c := range []struct {
		name string
		sync bool
	}{{"fsync=none", false}, {"fsync=batch", true}} {
		b.Run(c.name, func(b *testing.B) {
			dir := b.TempDir()
			a, err := New(Options{Instance: "bench", Key: testKey(b), Registerer: prometheus.NewRegistry(), QueueSize: 65536,
				Sink: NewFileSink(FileOptions{Dir: dir, Prefix: "audit", MaxBytes: 100 << 20, SyncEachWrite: c.sync})})
			if err != nil {
				b.Fatal(err)
			}
			an := analysis(b, "SELECT p.name, p.ssn, p.birthdate FROM patients p JOIN encounters e ON e.patient_id = p.id WHERE p.id = 4711 AND e.date > '2024-01-01'")
			s := &Session{ID: "0a1b2c3d4e5f", Client: "10.20.30.40:51234", TLSVersion: "TLS1.3", User: "dr_smith", Role: "clinician", Database: "ehr"}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				ss := NewSubjectSet("public.patients", "id", 50)
				ss.Add("4711")
				ev := &Statement{Session: s, Analysis: an, Protocol: Extended, Read: []string{"public.patients.ssn", "public.patients.birthdate"},
					Decision: Allow, Rule: "clinician", Rows: 3, Subjects: []*SubjectSet{ss}, Duration: 800 * time.Microsecond, SQLState: "00000"}
				for pb.Next() {
					for a.Record(ev) != nil {
						runtime.Gosched()
					}
				}
			})
			closeA(b, a)
			el := time.Since(start)
			b.StopTimer()
			var size int64
			for _, f := range files(b, dir) {
				fi, _ := os.Stat(f)
				size += fi.Size()
			}
			b.ReportMetric(float64(b.N)/el.Seconds(), "records/s")
			b.ReportMetric(float64(size)/float64(b.N+2), "bytes/record")
		})
	}
}
