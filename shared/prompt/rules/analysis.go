package rules

// analysis is what a normalised prompt already says, read from its words
// outside quoted spans.
type analysis struct {
	slots slot
	neg   uint8 // negTerms the prompt names
	// subject says some word names a thing rather than describing the
	// picture, or the prompt quotes text to show, or holds an emoji.
	subject bool
	// hash is over the lower-cased words but the function words, so "a
	// cat" and "The cat." get the same defaults and other subjects others.
	hash uint64
	noun nounRef
}

// nounRef is the first subject noun the lexicon knows.
type nounRef struct {
	cat    category
	plural bool
	word   string // as the lexicon spells it
	one    string // its singular
	// verbable says a verb can follow the first phrase: the noun is in it
	// and the phrase reads as a noun phrase ("a fluffy cat on a sofa", not
	// "a photo of a cat" or "a cat that is asleep").
	verbable bool
}

// window holds the last words read, lower-cased, for phrases of up to
// maxPhraseWords words.
type window struct {
	keys [maxPhraseWords][maxKey]byte
	lens [maxPhraseWords]int
	// plain says the word is in no descriptive table and no function word:
	// it names the subject unless a phrase takes it in ("golden hour").
	plain [maxPhraseWords]bool
	n     int // words read
	run   int // words in a row, each one space after the last
}

// analyse reads s; first is the prompt's first phrase.
func analyse(s string, first segment) analysis {
	a := analysis{hash: fnvOffset}
	var win window
	ws := newWordScanner(s)
	idx := 0 // word index in the first phrase
	det, detPlural, stopBefore, clauseAfter := false, false, false, false
	nounInFirst := false
	var key [maxPhraseWords*maxKey + maxPhraseWords]byte
	for {
		start, end, ok := ws.next()
		if !ok {
			break
		}
		word := s[start:end]
		slotIdx := win.n % maxPhraseWords
		if win.n >= maxPhraseWords && win.plain[slotIdx] {
			a.subject = true // the word leaving the window stayed plain
		}
		win.n++
		if ws.joined {
			win.run++
		} else {
			win.run = 0
		}
		if len(word)*2 > maxKey { // no table word is this long, even lower-cased
			win.lens[slotIdx], win.plain[slotIdx] = 0, true
			win.run = 0
			a.hash = hashWord(hashBytes(a.hash, word))
			idx++
			continue
		}
		low := lower(win.keys[slotIdx][:0], word)
		win.lens[slotIdx] = len(low)
		e := lexicon[string(low)]
		if isFocalLength(low) {
			e.slots |= slotComposition | slotCamera | slotPhoto
		}
		a.slots |= e.slots
		a.neg |= e.neg
		win.plain[slotIdx] = e.slots&(descriptive|slotStop) == 0
		if e.slots&slotStop == 0 {
			a.hash = hashWord(hashBytes(a.hash, low))
		}
		// Phrases ending here: two and three words.
		for back := 1; back <= win.run && back < maxPhraseWords; back++ {
			k := key[:0]
			for c := back; c >= 0; c-- {
				j := (win.n - 1 - c) % maxPhraseWords
				k = append(k, win.keys[j][:win.lens[j]]...)
				if c > 0 {
					k = append(k, ' ')
				}
			}
			pe, found := lexicon[string(k)]
			if !found {
				continue
			}
			a.slots |= pe.slots
			a.neg |= pe.neg
			if pe.slots&descriptive != 0 {
				for c := 0; c <= back; c++ {
					win.plain[(win.n-1-c)%maxPhraseWords] = false
				}
			}
		}

		// The first phrase's grammar, for the motion verb.
		if end <= first.end {
			switch {
			case idx == 0:
				det, detPlural = e.slots&slotDet != 0, e.slots&slotDetPlural != 0
			case a.noun.cat == catNone && e.slots&slotStop != 0:
				stopBefore = true
			case a.noun.cat != catNone && nounInFirst && e.slots&slotClauseVerb != 0:
				clauseAfter = true
			}
		}
		if e.cat != catNone {
			a.subject = true // even a noun that sets a mood: "smoke"
		}
		if a.noun.cat == catNone && e.cat != catNone {
			a.noun = nounRef{cat: e.cat, plural: e.plural, word: e.word, one: e.one}
			nounInFirst = end <= first.end
			if nounInFirst && det && detPlural {
				a.noun.plural = true
			}
		}
		idx++
	}
	for i := 0; i < min(win.n, maxPhraseWords); i++ {
		if win.plain[i] {
			a.subject = true
		}
	}
	if ws.quoted || ws.symbol {
		a.subject = true
	}
	a.noun.verbable = nounInFirst && !stopBefore && !clauseAfter
	return a
}

// isFocalLength matches "35mm", "85mm": a lens, so a photograph.
func isFocalLength(w []byte) bool {
	if len(w) < 3 || w[len(w)-2] != 'm' || w[len(w)-1] != 'm' {
		return false
	}
	for _, c := range w[:len(w)-2] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func hashBytes[T string | []byte](h uint64, b T) uint64 {
	for i := range len(b) {
		h = (h ^ uint64(b[i])) * fnvPrime
	}
	return h
}

// hashWord ends a word in the running hash, so "ab c" and "a bc" differ.
func hashWord(h uint64) uint64 { return (h ^ ' ') * fnvPrime }

// choose picks one of n options for the given slot of a prompt: stable for
// a prompt, independent across slots.
func choose(h uint64, salt uint64, n int) int {
	x := h ^ salt*0x9e3779b97f4a7c15
	// splitmix64's finaliser: FNV's low bits alone vary too little.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return int(x % uint64(n))
}
