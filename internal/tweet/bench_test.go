package tweet

import (
	"testing"
	"time"
)

// benchConvert reports documents/s and allocations per document for one
// converter over the real-format samples.
func benchConvert(b *testing.B, file string, conv func([]byte) (Document, error)) {
	lines := sampleLines(b, file)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := conv(lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}

func BenchmarkConvertXV2(b *testing.B)       { benchConvert(b, "xv2.ndjson", FromXV2) }
func BenchmarkConvertV11(b *testing.B)       { benchConvert(b, "v11.ndjson", FromV11) }
func BenchmarkConvertJetstream(b *testing.B) { benchConvert(b, "jetstream.ndjson", jet) }
func BenchmarkConvertCanonical(b *testing.B) { benchConvert(b, "canonical.ndjson", DecodeCanonical) }
func BenchmarkConvertAutoXV2(b *testing.B) {
	benchConvert(b, "xv2.ndjson", func(r []byte) (Document, error) { return Convert(FormatAuto, r) })
}

func BenchmarkGenerator(b *testing.B) {
	g := NewGenerator(1)
	ts := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		g.Next(ts)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}

func BenchmarkMarshal(b *testing.B) {
	d := NewGenerator(1).Next(time.Now())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}
