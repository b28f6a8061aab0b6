package rules

import (
	"strings"
	"unicode/utf8"
)

// Defaults, each named for the slot it fills. Every phrase names its own
// slot's lexicon (TestDefaultsCoverTheirSlot), so a prompt never gets a
// phrase twice and an enhanced prompt enhanced again is unchanged. None
// holds a comma or a quote mark.
var (
	subjectDefault = "a clear main subject"

	photoStyles = []string{"photorealistic", "realistic photograph", "natural photographic style"}
	artStyles   = []string{"digital painting", "concept art", "fantasy illustration"}

	outdoorLights = []string{"soft natural light", "soft diffused lighting", "warm golden-hour light", "gentle morning light"}
	indoorLights  = []string{"soft window light", "warm ambient light", "soft diffused lighting"}
	studioLights  = []string{"soft studio lighting", "even softbox lighting"}

	compositions = []string{"balanced composition", "rule-of-thirds composition", "centered composition"}
	closeLenses  = []string{"50mm lens", "85mm lens", "shallow depth of field"}
	wideLenses   = []string{"wide-angle lens", "24mm lens"}

	qualities        = []string{"highly detailed", "sharp focus", "intricate detail"}
	graphicQualities = []string{"clean lines", "crisp edges"}

	atmospheres = []string{"calm atmosphere", "serene mood", "peaceful atmosphere"}

	moverCameras = []string{"smooth tracking shot", "slow dolly-in", "static tripod shot"}
	sceneCameras = []string{"slow pan", "slow aerial pan", "wide static shot"}

	filmStyles    = []string{"cinematic realism", "natural cinematic look", "realistic film look"}
	fantasyStyles = []string{"cinematic fantasy look", "stylized cinematic look"}

	stillMotion = []string{"subtle natural motion", "gentle ambient movement"}
)

// verb is a motion for a subject noun: after a singular or a plural
// subject, and as a participle after "the <noun>".
type verb struct{ one, many, participle string }

// verbs are the motions for each kind of subject, written as after a
// plural subject; verbForms adds the rest.
var verbs = map[category][]verb{
	catAnimal:  verbForms("walk slowly", "move gracefully", "trot forward"),
	catBird:    verbForms("fly gracefully", "glide through the air"),
	catSwimmer: verbForms("swim slowly", "glide through the water"),
	catPerson:  verbForms("walk slowly", "turn toward the camera", "glance around slowly"),
	catVehicle: verbForms("move steadily forward", "travel slowly forward"),
	catWater:   verbForms("flow gently", "ripple softly"),
	catFire:    verbForms("flicker softly", "dance gently"),
	catSmoke:   verbForms("drift slowly upward", "curl slowly upward"),
	catPlant:   verbForms("sway gently in the breeze", "rustle softly in the wind"),
	catCloud:   verbForms("drift slowly across the sky", "roll slowly across the sky"),
}

// nounVerbs are the motions of subjects that have one of their own, by
// singular noun.
var nounVerbs = map[string][]verb{
	"dancer":  verbForms("dance gracefully", "spin slowly"),
	"runner":  verbForms("run steadily forward"),
	"skater":  verbForms("glide smoothly"),
	"surfer":  verbForms("ride a wave"),
	"hiker":   verbForms("walk slowly uphill"),
	"horse":   verbForms("gallop gracefully", "trot forward"),
	"dog":     verbForms("run playfully", "trot forward"),
	"kite":    verbForms("flutter in the wind"),
	"rocket":  verbForms("lift off slowly"),
	"balloon": verbForms("float gently upward"),
}

// verbForms inflects each phrase's first word, the same way the lexicon
// lists motion verbs, so every motion added reads as one.
func verbForms(phrases ...string) []verb {
	vs := make([]verb, len(phrases))
	for i, p := range phrases {
		base, rest, _ := strings.Cut(p, " ")
		forms := inflections(base)
		vs[i] = verb{forms[1] + " " + rest, p, forms[2] + " " + rest}
	}
	return vs
}

// postures move a subject that the prompt puts at rest ("a cat sleeping")
// without making it walk off: singular and plural.
var postures = map[category][][2]string{
	catAnimal: {{"its head turning slowly", "their heads turning slowly"}, {"its tail swaying gently", "their tails swaying gently"}},
	catBird:   {{"its feathers ruffling in the breeze", "their feathers ruffling in the breeze"}},
	catPerson: {{"glancing around slowly", "glancing around slowly"}, {"breathing calmly", "breathing calmly"}},
}

// sceneMotion moves a place through what is in it.
var sceneMotion = map[category][]string{
	catWoods:    {"leaves sway gently in the breeze", "branches sway softly in the wind"},
	catLand:     {"clouds drift slowly overhead", "cloud shadows drift across the land"},
	catShore:    {"waves roll gently onto the shore"},
	catTown:     {"people and traffic move in the background"},
	catInterior: {"dust motes drift slowly in the air"},
}

// The salts that make each slot's choice independent of the others.
const (
	saltStyle = iota + 1
	saltLighting
	saltComposition
	saltLens
	saltQuality
	saltMotion
	saltAtmosphere
	saltCamera
)

// maxAdded bounds what the rules add to a prompt, separators included: a
// caller fits provider limits later and never cuts the user's own words.
const maxAdded = 400

func enhanceImage(s string) Result {
	var out assembly
	a, _, ok := out.begin(s)
	if !ok {
		return Result{Prompt: out.s}
	}
	photo, graphic := a.slots&slotPhoto != 0, a.slots&slotGraphic != 0
	if a.slots&slotStyle == 0 {
		styles := photoStyles
		if a.slots&slotFantasy != 0 {
			styles = artStyles
		}
		photo = a.slots&slotFantasy == 0
		out.add(styles[choose(a.hash, saltStyle, len(styles))])
	}
	if a.slots&slotLighting == 0 && !graphic {
		out.add(lightFor(a))
	}
	if a.slots&slotComposition == 0 {
		out.add(compositions[choose(a.hash, saltComposition, len(compositions))])
		if photo && !graphic {
			lenses := closeLenses
			if a.noun.cat >= catWoods {
				lenses = wideLenses
			}
			out.add(lenses[choose(a.hash, saltLens, len(lenses))])
		}
	}
	if a.slots&slotQuality == 0 {
		qs := qualities
		if graphic {
			qs = graphicQualities
		}
		out.add(qs[choose(a.hash, saltQuality, len(qs))])
	}
	return out.result(negativePrompts[negImage&^a.neg])
}

func enhanceVideo(s string) Result {
	var out assembly
	a, first, ok := out.begin(s)
	if !ok {
		return Result{Prompt: out.s}
	}
	if a.slots&slotMotion == 0 {
		addMotion(&out, a, first)
	}
	if a.slots&slotLighting == 0 {
		out.add(lightFor(a))
	}
	if a.slots&slotAtmosphere == 0 {
		out.add(atmospheres[choose(a.hash, saltAtmosphere, len(atmospheres))])
	}
	if a.slots&slotCamera == 0 {
		cams := sceneCameras
		if a.noun.cat.mover() {
			cams = moverCameras
		}
		out.add(cams[choose(a.hash, saltCamera, len(cams))])
	}
	if a.slots&slotStyle == 0 {
		styles := filmStyles
		if a.slots&slotFantasy != 0 {
			styles = fantasyStyles
		}
		out.add(styles[choose(a.hash, saltStyle, len(styles))])
	}
	return out.result(negativePrompts[negVideo&^a.neg])
}

// addMotion gives a still description one simple motion, as Wan's prompt
// extension and HunyuanVideo's handbook ask: a verb after the subject
// phrase where the grammar allows ("a cat" -> "a cat walks slowly"),
// otherwise a phrase of its own.
func addMotion(out *assembly, a analysis, first segment) {
	h := choose(a.hash, saltMotion, 1<<16)
	n := a.noun
	if ps := postures[n.cat]; a.slots&slotPosture != 0 && ps != nil {
		p := ps[h%len(ps)]
		out.add(pickNumber(n.plural, p[0], p[1]))
		return
	}
	vs := nounVerbs[n.one]
	if vs == nil {
		vs = verbs[n.cat]
	}
	if vs != nil {
		v := vs[h%len(vs)]
		// After a word only: after "?" or "." a space would end a sentence.
		if last, _ := utf8.DecodeLastRuneInString(out.s[:first.end]); n.verbable && isWordRune(last) &&
			out.insert(first.end, pickNumber(n.plural, v.one, v.many)) {
			return
		}
		out.add("the", n.word, v.participle)
		return
	}
	if ms := sceneMotion[n.cat]; ms != nil {
		out.add(ms[h%len(ms)])
		return
	}
	out.add(stillMotion[h%len(stillMotion)])
}

func pickNumber(plural bool, one, many string) string {
	if plural {
		return many
	}
	return one
}

func lightFor(a analysis) string {
	lights := outdoorLights
	switch {
	case a.slots&slotStudio != 0:
		lights = studioLights
	case a.slots&slotIndoor != 0 || a.noun.cat == catInterior:
		lights = indoorLights
	}
	return lights[choose(a.hash, saltLighting, len(lights))]
}

// dedupePhrases drops every phrase that repeats an earlier one
// (samePhrase), with the separator before it. It returns the prompt and
// its first phrase.
func dedupePhrases(s string) (string, segment) {
	var buf [16]segment
	for {
		segs := segments(s, buf[:0])
		var seen phraseSet
		var b strings.Builder
		kept := 0 // s[:kept] is written or still to be copied
		for i, sg := range segs {
			if sg.start == sg.end || seen.add(s[sg.start:sg.end]) {
				continue
			}
			if kept == 0 {
				b.Grow(len(s))
			}
			b.WriteString(s[kept:segs[i-1].end])
			kept = sg.end
		}
		if kept == 0 {
			return s, segs[0]
		}
		b.WriteString(s[kept:])
		// What stays may read otherwise: an empty phrase before the one
		// dropped leaves two spaces, and "Dr." before a dropped "。Dr"
		// meets the full stop after it. So once more, until nothing
		// repeats.
		s = normalize(b.String())
	}
}

// assembly writes an enhanced prompt: the user's text, perhaps a verb
// after its first phrase, then the added phrases.
type assembly struct {
	s        string
	b        strings.Builder
	at       int // s[:at] is written
	spans    [12][2]int
	n        int
	appended int  // phrases after the user's text
	added    int  // bytes added, separators included
	closing  bool // s ends a sentence: the appended phrases form one more
}

// begin takes the prompt of an image or a video without its repeated
// phrases, reads it, and adds a subject if it names none. It returns
// false, and adds nothing, for punctuation alone: nothing to describe.
func (o *assembly) begin(s string) (a analysis, first segment, ok bool) {
	o.s, first = dedupePhrases(s)
	if !hasContent(o.s) {
		return a, first, false
	}
	last, _ := utf8.DecodeLastRuneInString(o.s)
	o.closing = strings.ContainsRune(".!?…。！？", last)
	a = analyse(o.s, first)
	if !a.subject {
		o.add(subjectDefault)
	}
	return a, first, true
}

// insert writes phrase after s[:at], unless more of s is written already,
// and reports whether it did.
func (o *assembly) insert(at int, phrase string) bool {
	if at < o.at || o.appended > 0 || o.added+1+len(phrase) > maxAdded || o.n == len(o.spans) {
		return false
	}
	o.grow()
	o.b.WriteString(o.s[o.at:at])
	o.at = at
	o.b.WriteByte(' ')
	o.spans[o.n] = [2]int{o.b.Len(), o.b.Len() + len(phrase)}
	o.n++
	o.added += 1 + len(phrase)
	o.b.WriteString(phrase)
	return true
}

// add appends one phrase made of parts joined by spaces.
func (o *assembly) add(parts ...string) {
	size := len(parts) - 1
	for _, p := range parts {
		size += len(p)
	}
	sep, capital := ", ", false
	if o.appended == 0 {
		switch last, _ := utf8.DecodeLastRuneInString(o.s); {
		case o.closing:
			sep, capital = " ", true
			size++ // the full stop that closes the added sentence
		case strings.ContainsRune(",;:、，；：", last):
			sep = " "
		}
	}
	if o.added+len(sep)+size > maxAdded || o.n == len(o.spans) {
		return
	}
	o.grow()
	o.b.WriteString(o.s[o.at:])
	o.at = len(o.s)
	o.b.WriteString(sep)
	begin := o.b.Len()
	for i, p := range parts {
		if i > 0 {
			o.b.WriteByte(' ')
		}
		if capital {
			o.b.WriteByte(upperASCII(p[0]))
			p, capital = p[1:], false
		}
		o.b.WriteString(p)
	}
	o.spans[o.n] = [2]int{begin, o.b.Len()}
	o.n++
	o.appended++
	o.added += len(sep) + size
}

// grow sizes the buffer once, for the prompt and what is commonly added,
// and only for a prompt that gets something.
func (o *assembly) grow() {
	if o.b.Cap() == 0 {
		o.b.Grow(len(o.s) + 192)
	}
}

func upperASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

func (o *assembly) result(negative string) Result {
	if o.n == 0 {
		return Result{Prompt: o.s, NegativePrompt: negative}
	}
	o.b.WriteString(o.s[o.at:])
	if o.closing && o.appended > 0 {
		o.b.WriteByte('.')
	}
	out := o.b.String()
	added := make([]string, o.n)
	for i, sp := range o.spans[:o.n] {
		added[i] = out[sp[0]:sp[1]]
	}
	return Result{Prompt: out, NegativePrompt: negative, Added: added}
}

// negativePrompts holds the negative prompt for every set of negTerms.
var negativePrompts = func() (ps [256]string) {
	for mask := range ps {
		var terms []string
		for i, t := range negTerms {
			if mask&(1<<i) != 0 {
				terms = append(terms, t)
			}
		}
		ps[mask] = strings.Join(terms, ", ")
	}
	return ps
}()
