package pocketsphinx

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseWords(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join("testdata", "words.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr, err := parseWords(f, 12)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Language != "en" || tr.DurationSeconds != 12 {
		t.Errorf("language %q, duration %v; want en, 12", tr.Language, tr.DurationSeconds)
	}
	wantText := "the art world the season starts soon and ah what a count suit and so thoroughly fall new york"
	if tr.Text != wantText {
		t.Errorf("text:\n got %q\nwant %q", tr.Text, wantText)
	}
	if len(tr.Segments) != 3 {
		t.Fatalf("segments %+v; want 3 (one per utterance)", tr.Segments)
	}
	if s := tr.Segments[1]; s.Start != 5 || s.End != 7.75 || !strings.HasPrefix(s.Text, "and ah") {
		t.Errorf("segment 1 = %+v; want 5..7.75 from \"and ah\"", s)
	}
	for _, w := range tr.Words {
		if strings.ContainsAny(w.Word, "<>[]()+_") {
			t.Errorf("word %q keeps a filler's or a pronunciation's mark", w.Word)
		}
		if w.Confidence < 0 || w.Confidence > 1 || w.End < w.Start {
			t.Errorf("word %+v: confidence or times out of range", w)
		}
	}
	if w := tr.Words[3]; w.Word != "the" || w.Start != 1.07 || w.End != 1.18 || w.Confidence != 0.272 {
		t.Errorf("word 3 = %+v; want the(2) as \"the\" 1.07..1.18, 0.272", w)
	}
}

func TestConfidence(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ in, want float64 }{
		"posterior":      {0.25, 0.25},
		"one":            {1, 1},
		"natural log":    {math.Log(0.5), 0.5},
		"logmath units":  {-6932, 0.5}, // log_1.0001(0.5)
		"not a score":    {7, 1},
		"not a number":   {math.NaN(), 1},
		"very unlikely":  {-1e9, 0},
		"zero posterior": {0, 0},
	}
	for name, tc := range tests {
		if got := confidence(tc.in); math.Abs(got-tc.want) > 0.001 {
			t.Errorf("%s: confidence(%v) = %v; want %v", name, tc.in, got, tc.want)
		}
	}
}

func TestWavDuration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "a.wav")
	// 0.5 s of 16 kHz mono s16le, with a LIST chunk before the data.
	data := make([]byte, 16000)
	hdr := wavHeader(16000, 1, 16, len(data), []byte("LIST\x04\x00\x00\x00INFO"))
	if err := os.WriteFile(path, append(hdr, data...), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := wavDuration(path)
	if err != nil || d != 0.5 {
		t.Errorf("wavDuration = %v, %v; want 0.5", d, err)
	}
	if err := os.WriteFile(path, []byte("not a wav file at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := wavDuration(path); err == nil {
		t.Error("wavDuration of text: no error")
	}
}

func wavHeader(rate, channels, bits, dataLen int, extra []byte) []byte {
	le32 := func(v int) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }
	le16 := func(v int) []byte { return []byte{byte(v), byte(v >> 8)} }
	var b []byte
	b = append(b, "RIFF"...)
	b = append(b, le32(36+len(extra)+dataLen)...)
	b = append(b, "WAVEfmt "...)
	b = append(b, le32(16)...)
	b = append(b, le16(1)...)
	b = append(b, le16(channels)...)
	b = append(b, le32(rate)...)
	b = append(b, le32(rate*channels*bits/8)...)
	b = append(b, le16(channels*bits/8)...)
	b = append(b, le16(bits)...)
	b = append(b, extra...)
	b = append(b, "data"...)
	b = append(b, le32(dataLen)...)
	return b
}

func TestTidy(t *testing.T) {
	t.Parallel()
	dir := "/tmp/mediatasks-ps/0123"
	in := "noise\nInvalid data found when processing input\n" + dir + "/input.wav: Invalid data found\nERROR: \"acmod.c\", line 78: Folder '/usr/share/pocketsphinx/model/en-us' does not contain 'mdef'\n"
	got := tidy(in, dir)
	if strings.Contains(got, "/tmp") || strings.Contains(got, "/usr") || strings.Contains(got, "noise") {
		t.Errorf("tidy = %q; want the last three lines with no machine paths", got)
	}
	if !strings.Contains(got, "input.wav: Invalid data found") || !strings.Contains(got, "'en-us'") {
		t.Errorf("tidy = %q; want the lines' words kept", got)
	}
}

func TestWER(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		ref, hyp string
		want     float64
	}{
		"same":          {"Hello, world.", "hello world", 0},
		"one sub":       {"the cat sat", "the hat sat", 1.0 / 3},
		"one deleted":   {"the cat sat", "the sat", 1.0 / 3},
		"inserted":      {"the cat", "the black cat", 0.5},
		"all wrong":     {"a b", "c d e", 1.5},
		"empty hyp":     {"a b c", "", 1},
		"empty both":    {"", "", 0},
		"apostrophes":   {"It's fine!", "it's fine", 0},
		"hyphens split": {"well-known", "well known", 0},
	}
	for name, tc := range tests {
		if got := wer(tc.ref, tc.hyp); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: wer(%q, %q) = %v; want %v", name, tc.ref, tc.hyp, got, tc.want)
		}
	}
}

// wavDuration reads a PCM WAV file's length in seconds from its header.
func wavDuration(path string) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	var head [12]byte
	if _, err := io.ReadFull(f, head[:]); err != nil || string(head[0:4]) != "RIFF" || string(head[8:12]) != "WAVE" {
		return 0, errors.New("not a WAV file")
	}
	offset := int64(12)
	var rate, channels, bits uint32
	for {
		var ch [8]byte
		if _, err := io.ReadFull(f, ch[:]); err != nil {
			return 0, errors.New("a WAV file with no data chunk")
		}
		offset += 8
		size := int64(binary.LittleEndian.Uint32(ch[4:8]))
		switch string(ch[0:4]) {
		case "fmt ":
			var fmtc [16]byte
			if size < 16 {
				return 0, errors.New("a WAV file with a short fmt chunk")
			}
			if _, err := io.ReadFull(f, fmtc[:]); err != nil {
				return 0, err
			}
			channels = uint32(binary.LittleEndian.Uint16(fmtc[2:4]))
			rate = binary.LittleEndian.Uint32(fmtc[4:8])
			bits = uint32(binary.LittleEndian.Uint16(fmtc[14:16]))
			size -= 16
			offset += 16
		case "data":
			bytesPerSec := float64(rate) * float64(channels) * float64(bits) / 8
			if bytesPerSec <= 0 {
				return 0, errors.New("a WAV file with no fmt chunk before its data")
			}
			if rest := st.Size() - offset; size == 0 || size == 0xffffffff || size > rest {
				size = rest // streamed: the header was never filled in
			}
			return float64(size) / bytesPerSec, nil
		}
		if _, err := f.Seek(size+size%2, io.SeekCurrent); err != nil {
			return 0, err
		}
		offset += size + size%2
	}
}
