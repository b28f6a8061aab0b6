package subtitle

import (
	"bytes"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/videoai/mediatasks/shared/transcript"
)

var update = flag.Bool("update", false, "write testdata: the corpus transcripts (*.json) and the golden subtitles (*.srt, *.vtt)")

// speech is a corpus entry: a text and how it is said. The corpus
// transcripts are made from these with a seeded generator when -update is
// given, and read from testdata otherwise, so that a change here shows up
// as a change of testdata in review.
type speech struct {
	name, language, text string
	msPerChar            int     // pace: about 1000/msPerChar characters a second
	silenceEvery         int     // a long silence after every this many sentences (0: none)
	silenceMs            int     // how long
	pipeWords            bool    // words are split at "|" (CJK, which has no spaces)
	spreadSeconds        float64 // > 0: no word timings, spread over this many seconds
	sameTime             bool    // every word said at once (a provider's degenerate timings)
}

var corpus = []speech{
	{name: "dialogue", language: "en", msPerChar: 65, text: "Hi, Sam. Oh, hello! How are you? Fine, thanks. And you? " +
		"Not bad. I just got back from Lisbon. Really? How was it? Wonderful. The food, the music, the people. " +
		"I'd love to go someday. You should. Go in the spring, when it's not too hot. OK. I will."},
	{name: "lecture", language: "en", msPerChar: 70, text: "Today we are going to look at how the immune system " +
		"distinguishes between the cells that belong to the body and the foreign invaders that it has to fight, " +
		"which is a problem that turns out to be far harder than it first appears, because many pathogens have " +
		"evolved to mimic the molecules on the surface of our own cells. In the first part of the lecture, we will " +
		"consider the innate immune system; in the second, the adaptive immune system, with its remarkable capacity " +
		"for memory, and in the third we will see how vaccines exploit that memory to protect us against diseases " +
		"that we have never actually encountered. Before we begin, however, I would like you to think about a simple " +
		"question that has puzzled immunologists for more than a century and that we still cannot fully answer."},
	{name: "names", language: "en", msPerChar: 70, text: "Yesterday Ada Lovelace and Charles Babbage were discussed " +
		"at a conference in New York, where Dr. Grace Hopper was remembered too. Alan Turing worked at Bletchley " +
		"Park during the war. Then Tim Berners-Lee, at CERN in Geneva, invented the World Wide Web. Later, Linus " +
		"Torvalds wrote Linux in Helsinki, and Margaret Hamilton led the software team for the Apollo Guidance " +
		"Computer at the Massachusetts Institute of Technology."},
	{name: "numbers", language: "en", msPerChar: 70, text: "In 2023, revenue grew 3.5% to $4.2 billion, up from " +
		"$3.9 billion in 2022. We shipped 1,250,000 units across 37 countries, and the margin was 12.75 percent. " +
		"The meeting is on 14 March at 9:30, room 101. Call 555-0199 before 5 p.m. on Friday."},
	{name: "fast", language: "en", msPerChar: 32, text: "So basically what happened was that we got there really " +
		"early and there was nobody around and we waited and waited and then all of a sudden everybody showed up " +
		"at once and it was total chaos and nobody knew where to go or what to do and honestly I just wanted to " +
		"leave but my friend said we had to stay because we had already paid for the tickets and so we stayed."},
	{name: "silences", language: "en", msPerChar: 70, silenceEvery: 1, silenceMs: 9000, text: "Is anybody there? " +
		"Hello? I can hear something. It's coming from downstairs. Wait. There it is again. I'm going down."},
	{name: "single", language: "en", msPerChar: 80, text: "Hello."},
	{name: "accents", language: "fr", msPerChar: 70, text: "Ça va très bien, merci. L'été dernier, nous sommes allés " +
		"à Montréal avec François et Hélène. Über den Wolken muss die Freiheit wohl grenzenlos sein. ¿Dónde está la " +
		"estación? Está allí, al lado del café. Zoë a préféré le crème brûlée à la pâtisserie."},
	{name: "japanese", language: "ja", msPerChar: 140, pipeWords: true, text: "今日は|とても|いい|天気|ですね。|" +
		"午後は|公園|へ|散歩|に|行き|ましょう|か。|はい、|そう|しましょう。|東京|タワー|の|近く|に|新しい|カフェ|が|" +
		"できた|そう|です。|そこ|で|コーヒー|を|飲み|ません|か？"},
	{name: "chinese", language: "zh", msPerChar: 150, pipeWords: true, text: "今天|天气|很|好，|我们|去|公园|散步|吧。|" +
		"你|觉得|怎么样？|好|啊，|我|用|iPhone|拍|了|很多|照片。|下午|我们|还|可以|去|博物馆|看看|新|的|展览。"},
	{name: "escapes", language: "en", msPerChar: 70, text: "Fish & chips cost <5 pounds> today. The arrow --> points " +
		"right, and ---> too. A < B and C > D, so A&B<C."},
	{name: "long-words", language: "cy", msPerChar: 60, text: "The village of " +
		"Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch is in Wales. The lung disease " +
		"pneumonoultramicroscopicsilicovolcanoconiosis is rare. See https://example.com/a/very/long/path/that/goes/on/and/on/forever.html now."},
	{name: "estimated", language: "en", spreadSeconds: 24, text: "This transcript came without word timings, so " +
		"the words were spread over the audio by their length. The cues should still keep every rule, even though " +
		"the times are only estimates. Nothing else changes."},
	{name: "same-time", language: "en", sameTime: true, text: "Every word of this was given the very same time by the " +
		"provider. The cues must still not overlap."},
	{name: "empty", language: "en"},
}

// generate makes an entry's transcript: each word takes its characters'
// time at the entry's pace, give or take a fifth, with short pauses
// between words, longer ones after commas and sentences, and the entry's
// silences.
func generate(s speech) *transcript.Transcript {
	if s.spreadSeconds > 0 {
		return transcript.Spread(s.language, s.text, s.spreadSeconds)
	}
	rng := rand.New(rand.NewPCG(uint64(len(s.text)), 7))
	var texts []string
	if s.pipeWords {
		texts = strings.Split(s.text, "|")
	} else {
		texts = strings.Fields(s.text)
	}
	t := &transcript.Transcript{Language: s.language}
	at, sentences := 0.2, 0
	for _, w := range texts {
		if w == "" {
			continue
		}
		if s.sameTime {
			t.Words = append(t.Words, transcript.Word{Word: w, Start: 1, End: 1.2, Confidence: 1})
			continue
		}
		d := float64(utf8.RuneCountInString(w)*s.msPerChar) * (0.8 + 0.4*rng.Float64()) / 1000
		t.Words = append(t.Words, transcript.Word{Word: w, Start: at, End: at + d, Confidence: 0.9})
		at += d + 0.03 + 0.08*rng.Float64()
		switch {
		case endsSentence(w):
			at += 0.3 + 0.5*rng.Float64()
			sentences++
			if s.silenceEvery > 0 && sentences%s.silenceEvery == 0 {
				at += float64(s.silenceMs) / 1000
			}
		case endsClause(w):
			at += 0.15 + 0.15*rng.Float64()
		}
	}
	if len(t.Words) > 0 {
		t.DurationSeconds = t.Words[len(t.Words)-1].End + 1.5
	}
	return t.Normalize()
}

// optionSets are the options every corpus transcript is checked under:
// the defaults, the task input's narrowest and widest lines, one line, a
// slow reader, and no gap nor minimum.
var optionSets = map[string]Options{
	"default":  DefaultOptions(),
	"narrow":   {MaxLineChars: 20, MaxLines: 2, MaxCueSeconds: 7, MinCueSeconds: 0.8, MaxCharsPerSecond: 17, MinGapSeconds: 0.083},
	"wide":     {MaxLineChars: 80, MaxLines: 2, MaxCueSeconds: 7, MinCueSeconds: 0.8, MaxCharsPerSecond: 20, MinGapSeconds: 0.083},
	"one line": {MaxLineChars: 42, MaxLines: 1, MaxCueSeconds: 7, MinCueSeconds: 0.8, MaxCharsPerSecond: 17, MinGapSeconds: 0.083},
	"three":    {MaxLineChars: 32, MaxLines: 3, MaxCueSeconds: 6, MinCueSeconds: 1, MaxCharsPerSecond: 15, MinGapSeconds: 0.1},
	"slow":     {MaxLineChars: 42, MaxLines: 2, MaxCueSeconds: 7, MinCueSeconds: 1.2, MaxCharsPerSecond: 12, MinGapSeconds: 0.083},
	"tight":    {MaxLineChars: 42, MaxLines: 2, MaxCueSeconds: 7, MinCueSeconds: 0, MaxCharsPerSecond: 20, MinGapSeconds: 0},
}

// loadCorpus reads the corpus transcripts, writing them first under
// -update.
func loadCorpus(t *testing.T) map[string]*transcript.Transcript {
	t.Helper()
	out := map[string]*transcript.Transcript{}
	for _, s := range corpus {
		path := filepath.Join("testdata", s.name+".json")
		if *update {
			b, err := generate(s).Encode()
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read the corpus (go test -run Corpus -update writes it): %v", err)
		}
		var tr transcript.Transcript
		if err := json.Unmarshal(b, &tr); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out[s.name] = &tr
	}
	return out
}

func wordsOf(tr *transcript.Transcript) []wordIn {
	out := make([]wordIn, len(tr.Words))
	for i, w := range tr.Words {
		out[i] = wordIn{text: w.Word, start: w.Start, end: w.End}
	}
	return out
}

// TestCorpusKeepsEveryRule lays out every corpus transcript under every
// option set and checks every rule on every cue, and both files written
// from them.
func TestCorpusKeepsEveryRule(t *testing.T) {
	for name, tr := range loadCorpus(t) {
		for optName, o := range optionSets {
			t.Run(name+"/"+optName, func(t *testing.T) {
				t.Parallel()
				if err := o.Validate(); err != nil {
					t.Fatal(err)
				}
				cues := Cues(tr, o)
				if len(tr.Words) > 0 && len(cues) == 0 {
					t.Fatal("no cues")
				}
				for _, e := range checkRules(wordsOf(tr), tr.DurationSeconds, o, cues) {
					t.Error(e)
				}
				for _, format := range []string{FormatSRT, FormatVTT} {
					b, err := Format(tr, format, o)
					if err != nil {
						t.Fatal(err)
					}
					for _, e := range checkFile(format, b, cues) {
						t.Errorf("%s: %s", format, e)
					}
				}
			})
		}
	}
}

// TestCorpusGoldens compares each corpus transcript's files under the
// default options with testdata/*.srt and *.vtt (-update writes them).
func TestCorpusGoldens(t *testing.T) {
	for name, tr := range loadCorpus(t) {
		for _, format := range []string{FormatSRT, FormatVTT} {
			b, err := Format(tr, format, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+"."+format)
			if *update {
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read the golden file (go test -run Corpus -update writes it): %v", err)
			}
			if !bytes.Equal(b, want) {
				t.Errorf("%s differs from the golden file:\n%s\nwant:\n%s", path, b, want)
			}
		}
	}
}
