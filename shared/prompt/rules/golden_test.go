package rules

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"
)

var (
	update    = flag.Bool("update", false, "rewrite testdata/golden.json from the current rules")
	generated = flag.Int("generated", 3000, "how many prompts TestGeneratedPrompts puts together")
)

const goldenPath = "testdata/golden.json"

type corpusLine struct{ Type, Prompt string }

// readCorpus reads testdata/corpus.txt: a task type, a tab and a prompt a
// line, the prompt taken as it stands, spaces and tabs included.
func readCorpus(tb testing.TB) []corpusLine {
	tb.Helper()
	f, err := os.Open("testdata/corpus.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var lines []corpusLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		typ, prompt, ok := strings.Cut(line, "\t")
		if !ok {
			tb.Fatalf("corpus line %q has no tab", line)
		}
		lines = append(lines, corpusLine{typ, prompt})
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return lines
}

type golden struct {
	Version string       `json:"version"`
	Cases   []goldenCase `json:"cases"`
}

type goldenCase struct {
	Type           string   `json:"type"`
	Prompt         string   `json:"prompt"`
	Enhanced       string   `json:"enhanced"`
	NegativePrompt string   `json:"negative_prompt,omitempty"`
	Added          []string `json:"added,omitempty"`
}

func encodeGolden(tb testing.TB, g golden) []byte {
	tb.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(g); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// TestGolden holds every corpus output to testdata/golden.json. Any change
// fails it; a change of output under the same Version fails -update too,
// since caches key by Version and would serve the old outputs.
func TestGolden(t *testing.T) {
	got := golden{Version: Version}
	for _, l := range readCorpus(t) {
		r := Enhance(l.Type, l.Prompt)
		got.Cases = append(got.Cases, goldenCase{l.Type, l.Prompt, r.Prompt, r.NegativePrompt, r.Added})
	}
	raw, err := os.ReadFile(goldenPath)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var want golden
	if err == nil {
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
	}
	sameVersion := want.Version == Version
	before := map[string]goldenCase{}
	for _, w := range want.Cases {
		before[w.Type+"\t"+w.Prompt] = w
	}
	var outputChanged []string // of prompts in both
	for _, g := range got.Cases {
		key := g.Type + "\t" + g.Prompt
		if w, ok := before[key]; ok && !sameCase(w, g) {
			outputChanged = append(outputChanged, key)
		}
	}
	if *update {
		if sameVersion && len(outputChanged) > 0 {
			t.Fatalf("outputs changed under Version %q for %q: change Version first", Version, outputChanged)
		}
		if err := os.WriteFile(goldenPath, encodeGolden(t, got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	for _, key := range outputChanged {
		t.Errorf("output changed for %q", key)
	}
	if !bytes.Equal(raw, encodeGolden(t, got)) {
		t.Errorf("%s is stale (version %q, rules %q): run go test -run TestGolden -update", goldenPath, want.Version, Version)
	}
	if len(outputChanged) > 0 && sameVersion {
		t.Errorf("outputs changed but Version is still %q: change it", Version)
	}
}

func sameCase(a, b goldenCase) bool {
	return a.Enhanced == b.Enhanced && a.NegativePrompt == b.NegativePrompt && strings.Join(a.Added, "\x00") == strings.Join(b.Added, "\x00")
}

// TestCorpusInvariants checks the invariants on every corpus prompt, under
// every task type.
func TestCorpusInvariants(t *testing.T) {
	t.Parallel()
	for _, l := range readCorpus(t) {
		for _, typ := range taskTypes {
			checkInvariants(t, typ, l.Prompt, Enhance(typ, l.Prompt))
		}
	}
}
