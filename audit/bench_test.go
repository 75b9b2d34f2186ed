package audit

import (
	"io"
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

// benchStatement is the statement record the benchmarks write: a
// prepared SELECT of two protected columns, one subject, as the proxy
// records it.
func benchStatement(b *testing.B) *Statement {
	an := analysis(b, "SELECT p.name, p.ssn, p.birthdate FROM patients p JOIN encounters e ON e.patient_id = p.id WHERE p.id = 4711 AND e.date > '2024-01-01'")
	s := &Session{ID: "0a1b2c3d4e5f", Client: "10.20.30.40:51234", TLSVersion: "TLS1.3", User: "dr_smith", Role: "clinician", Database: "ehr"}
	ss := NewSubjectSet("public.patients", "id", 50)
	ss.Add("4711")
	return &Statement{Session: s, Analysis: an, Protocol: Extended, Read: []string{"public.patients.ssn", "public.patients.birthdate"},
		Decision: Allow, Rule: "clinician", Rows: 3, Subjects: []*SubjectSet{ss}, Duration: 800 * time.Microsecond, SQLState: "00000"}
}

// BenchmarkRecordCall is what a session's goroutine pays per statement:
// Record alone, the writer draining to io.Discard on its own goroutine.
func BenchmarkRecordCall(b *testing.B) {
	a, err := New(Options{Instance: "bench", Key: testKey(b), Registerer: prometheus.NewRegistry(), QueueSize: 1 << 20, Sink: NewWriterSink(io.Discard)})
	if err != nil {
		b.Fatal(err)
	}
	ev := benchStatement(b)
	b.ReportAllocs()
	for b.Loop() {
		for a.Record(ev) != nil {
			runtime.Gosched()
		}
	}
	b.StopTimer()
	closeA(b, a)
}

// BenchmarkWriterAdd is what the writer goroutine pays per record:
// encoding, alert bookkeeping and sealing into the batch buffer (the
// write itself is the sink's).
func BenchmarkWriterAdd(b *testing.B) {
	a, err := New(Options{Instance: "bench", Key: testKey(b), Registerer: prometheus.NewRegistry(), Sink: NewWriterSink(io.Discard)})
	if err != nil {
		b.Fatal(err)
	}
	closeA(b, a) // the goroutine is done; use its state from here
	w := &batch{a: a}
	it := item{ev: benchStatement(b), time: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		w.add(it)
		if len(w.lines) == maxBatch {
			w.written(len(w.lines))
			w.reset()
		}
	}
}
