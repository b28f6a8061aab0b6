package subtitle

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asticode/go-astisub"
)

// TestGoldensReadBackIndependently reads every golden file with another
// implementation of both formats (go-astisub, which players' tool chains
// use) and compares what it finds with the cues: as many, the same times
// to the millisecond, the same text.
func TestGoldensReadBackIndependently(t *testing.T) {
	for name, tr := range loadCorpus(t) {
		cues := Cues(tr, DefaultOptions())
		for _, format := range []string{FormatSRT, FormatVTT} {
			t.Run(name+"."+format, func(t *testing.T) {
				b, err := os.ReadFile(filepath.Join("testdata", name+"."+format))
				if err != nil {
					t.Fatal(err)
				}
				read, escape := astisub.ReadFromSRT, srtText
				if format == FormatVTT {
					read, escape = astisub.ReadFromWebVTT, vttText
				}
				subs, err := read(bytes.NewReader(b))
				if err != nil {
					t.Fatalf("go-astisub cannot read it: %v", err)
				}
				if len(subs.Items) != len(cues) {
					t.Fatalf("go-astisub reads %d cues, want %d", len(subs.Items), len(cues))
				}
				for k, item := range subs.Items {
					c := cues[k]
					if want := time.Duration(millis(c.Start)) * time.Millisecond; item.StartAt != want {
						t.Errorf("cue %d starts at %v, want %v", k+1, item.StartAt, want)
					}
					if want := time.Duration(millis(c.End)) * time.Millisecond; item.EndAt != want {
						t.Errorf("cue %d ends at %v, want %v", k+1, item.EndAt, want)
					}
					var got []string
					for _, l := range item.Lines {
						got = append(got, l.String())
					}
					want := make([]string, len(c.Lines))
					for i, l := range c.Lines {
						want[i] = astisubText(escape(l))
					}
					if strings.Join(got, "\n") != strings.Join(want, "\n") {
						t.Errorf("cue %d reads as %q, want %q", k+1, got, want)
					}
				}
			})
		}
	}
}

// astisubText is a written line as go-astisub gives it back: it decodes
// &amp; and &lt; (not &gt;) in both formats.
func astisubText(written string) string {
	return strings.NewReplacer("&amp;", "&", "&lt;", "<").Replace(written)
}
