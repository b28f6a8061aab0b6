package subtitle

import (
	"math"
	"strings"
)

// The weights of a layout's cost; only their ratios matter. A line break
// costs 0 at a sentence end, 1 at clause punctuation, 2 before a
// conjunction or preposition and 4 elsewhere (breakCost); a cue break
// counts twice. A cue costs half a plain break, so cues are not cut for
// nothing; a sentence end inside a cue costs more than a plain break, so
// cues end at sentences where they can; a second of reading or minimum
// time that the audio does not give costs three plain breaks, so a cue
// too short is merged or split before lesser things are traded.
const (
	costPerCue          = 2.0
	costCueBreakFactor  = 2.0  // a cue break is judged as a line break, twice
	costSentenceInside  = 5.0  // each sentence end inside a cue
	costSentenceMidLine = 3.0  // more when it is not at the line break
	costSentenceSplit   = 4.0  // more when the cue then ends inside the next sentence
	costImbalance       = 16.0 // times the square of a line's distance from the mean width, as a share of a line
	costShortSecond     = 12.0 // each second a cue lacks to be read or shown long enough
	costLongPause       = 8.0  // a pause over longPauseMs inside a cue: its text shows early
	costPause           = 2.0  // a pause over pauseMs
	pauseMs             = 700
	longPauseMs         = 1500
	// floorMs is the least a cue is shown when the next one leaves it
	// less: the next is moved later rather than the cue flashing by.
	floorMs = 250
)

// planner lays tokens out as cues.
type planner struct {
	toks                     []token
	width, lines             int
	gap, minCue, maxCue, end int // milliseconds; end is the media's end
	cps                      float64
	protected                []bool    // protected[k]: no break between tokens k and k+1
	breakCost                []float64 // the cost of a break after token k
	// prefix sums over tokens, so that a stretch's measures are O(1)
	widthSum, spaceSum, sentenceSum, pieceSum []int
	pauseSum                                  []float64
	costBuf                                   [][]float64 // scratch for layout
	nextBuf                                   [][]int
}

func newPlanner(toks []token, o Options, mediaEnd int) *planner {
	n := len(toks)
	p := &planner{
		toks: toks, width: o.MaxLineChars, lines: o.MaxLines,
		gap: millis(o.MinGapSeconds), minCue: millis(o.MinCueSeconds), maxCue: millis(o.MaxCueSeconds),
		end: mediaEnd, cps: o.MaxCharsPerSecond,
		breakCost: make([]float64, n),
		widthSum:  make([]int, n+1), spaceSum: make([]int, n+1), sentenceSum: make([]int, n+1),
		pieceSum: make([]int, n+1), pauseSum: make([]float64, n+1),
	}
	p.maxCue = max(p.maxCue, 1)
	p.protected = names(toks, p.width, p.maxCue)
	for k, t := range toks {
		p.widthSum[k+1] = p.widthSum[k] + t.width
		p.spaceSum[k+1] = p.spaceSum[k]
		if k > 0 && !t.glue {
			p.spaceSum[k+1]++
		}
		p.sentenceSum[k+1] = p.sentenceSum[k]
		p.pauseSum[k+1] = p.pauseSum[k]
		if k+1 < n {
			p.breakCost[k] = breakCost(toks, k)
			if sentenceEndAt(toks, k) {
				p.sentenceSum[k+1]++
			}
			switch pause := toks[k+1].start - t.end; {
			case pause > longPauseMs:
				p.pauseSum[k+1] += costLongPause
			case pause > pauseMs:
				p.pauseSum[k+1] += costPause
			}
		}
		p.pieceSum[k+1] = p.pieceSum[k]
		if t.piece {
			p.pieceSum[k+1]++
		}
	}
	return p
}

// lineWidth is the columns tokens [a, b) take on one line.
func (p *planner) lineWidth(a, b int) int {
	return p.widthSum[b] - p.widthSum[a] + p.spaceSum[b] - p.spaceSum[a+1]
}

// sentencesInside counts the sentence ends between tokens [a, b).
func (p *planner) sentencesInside(a, b int) int { return p.sentenceSum[b-1] - p.sentenceSum[a] }

// layout is a cue's lines: the index of the token each starts with.
type layout struct {
	starts []int
	cost   float64
}

// plan chooses where cues end: the cheapest of all ways to cut the
// tokens into cues that keep the hard rules (width, lines, longest time,
// names whole, no lone word line), by a shortest path over cut points.
// It returns the cues as their first token and lines.
func (p *planner) plan() []plannedCue {
	if planned := p.shortestPath(); planned != nil {
		return planned
	}
	// Only degenerate timings (a name said over more than a cue's time
	// can last, say) leave no way that keeps names whole: then names
	// break as words do.
	p.protected = make([]bool, len(p.toks))
	return p.shortestPath()
}

type plannedCue struct {
	first, last int // tokens [first, last)
	layout
}

func (p *planner) shortestPath() []plannedCue {
	n := len(p.toks)
	best := make([]float64, n+1)
	from := make([]int, n+1)
	lays := make([]layout, n+1)
	for j := 1; j <= n; j++ {
		best[j] = math.Inf(1)
		if j < n && p.protected[j-1] {
			continue // no cue ends inside a name
		}
		for i := j - 1; i >= 0; i-- {
			if p.lineWidth(i, j) > p.width*p.lines {
				break
			}
			if j-i > 1 && p.toks[j-1].end-p.toks[i].start > p.maxCue {
				break
			}
			pieces := p.pieceSum[j] - p.pieceSum[i]
			if pieces > 0 && (pieces < j-i || p.toks[i].word != p.toks[j-1].word) {
				break // a hard-wrapped word's pieces make cues of their own
			}
			if (i > 0 && p.protected[i-1]) || math.IsInf(best[i], 1) {
				continue
			}
			c := best[i] + p.cueCost(i, j)
			if c >= best[j] {
				continue // its lines cost nothing or more: laying them out cannot win
			}
			lay, ok := p.layout(i, j, pieces > 0)
			if !ok {
				continue
			}
			if c += lay.cost; c < best[j] {
				best[j], from[j], lays[j] = c, i, lay
			}
		}
	}
	if math.IsInf(best[n], 1) {
		return nil
	}
	var planned []plannedCue
	for j := n; j > 0; j = from[j] {
		planned = append(planned, plannedCue{first: from[j], last: j, layout: lays[j]})
	}
	for a, b := 0, len(planned)-1; a < b; a, b = a+1, b-1 {
		planned[a], planned[b] = planned[b], planned[a]
	}
	return planned
}

// cueCost is what a cue of tokens [i, j) costs beyond its lines: its
// own cost, the break after it, the sentence ends and pauses inside it,
// and the time it lacks to be read if it ends before the next cue.
func (p *planner) cueCost(i, j int) float64 {
	n := len(p.toks)
	c := costPerCue + costSentenceInside*float64(p.sentencesInside(i, j)) + p.pauseSum[j-1] - p.pauseSum[i]
	if j < n {
		c += costCueBreakFactor * p.breakCost[j-1]
		if p.sentencesInside(i, j) > 0 && !sentenceEndAt(p.toks, j-1) {
			c += costSentenceSplit
		}
	}
	start := p.toks[i].start
	room := p.maxCue
	if j < n {
		room = min(room, p.toks[j].start-p.gap-start)
	} else if p.end != math.MaxInt64 {
		room = min(room, p.end-start)
	}
	if need := p.need(p.lineWidth(i, j)); need > room {
		c += costShortSecond * float64(need-max(room, 0)) / 1000
	}
	return c
}

// need is the least time a cue of width columns is shown: long enough
// to read and at least the minimum.
func (p *planner) need(width int) int {
	return max(p.minCue, int(math.Ceil(float64(width)*1000/p.cps)))
}

// layout chooses the lines of a cue of tokens [i, j): one if it fits,
// else the fewest that do, at the cheapest breaks with the most even
// widths. Every line of several holds two tokens or more (no lone word),
// unless the cue is a hard-wrapped word's pieces.
func (p *planner) layout(i, j int, pieces bool) (layout, bool) {
	if p.lineWidth(i, j) <= p.width {
		return layout{starts: []int{i}, cost: costSentenceMidLine * float64(p.sentencesInside(i, j))}, true
	}
	minTokens := 2
	if pieces {
		minTokens = 1
	}
	m := j - i
	for lines := 2; lines <= p.lines; lines++ {
		if m < lines*minTokens {
			break
		}
		mean := float64(p.lineWidth(i, j)) / float64(lines)
		lineCost := func(a, b int) (float64, bool) {
			w := p.lineWidth(a, b)
			if w > p.width || b-a < minTokens {
				return 0, false
			}
			dev := (float64(w) - mean) / float64(p.width)
			return costImbalance*dev*dev + costSentenceMidLine*float64(p.sentencesInside(a, b)), true
		}
		// cost[l][a-i]: the cheapest way to lay tokens [a, j) as l lines.
		// The first line starts at i, so the top level needs a = i only.
		cost, next := p.scratch(lines, m)
		for a := i; a < j; a++ {
			if c, ok := lineCost(a, j); ok {
				cost[1][a-i] = c
			}
		}
		for l := 2; l <= lines; l++ {
			from, to := i+1, j
			if l == lines {
				from, to = i, i+1
			}
			for a := from; a < to; a++ {
				for b := a + minTokens; b < j; b++ { // the next line starts at b
					if p.lineWidth(a, b) > p.width {
						break
					}
					if p.protected[b-1] || math.IsInf(cost[l-1][b-i], 1) {
						continue
					}
					lc, ok := lineCost(a, b)
					if !ok {
						continue
					}
					if c := lc + p.breakCost[b-1] + cost[l-1][b-i]; c < cost[l][a-i] {
						cost[l][a-i], next[l][a-i] = c, b
					}
				}
			}
		}
		if math.IsInf(cost[lines][0], 1) {
			continue
		}
		lay := layout{cost: cost[lines][0]}
		for l, a := lines, i; l > 0; l-- {
			lay.starts = append(lay.starts, a)
			a = next[l][a-i]
		}
		return lay, true
	}
	return layout{}, false
}

// scratch gives the line layout's tables for lines lines of m tokens,
// costs set to infinity, reusing the planner's memory: layouts are many.
func (p *planner) scratch(lines, m int) (cost [][]float64, next [][]int) {
	for len(p.costBuf) <= lines {
		p.costBuf = append(p.costBuf, nil)
		p.nextBuf = append(p.nextBuf, nil)
	}
	for l := 0; l <= lines; l++ {
		if cap(p.costBuf[l]) < m+1 {
			p.costBuf[l] = make([]float64, m+1)
			p.nextBuf[l] = make([]int, m+1)
		}
		p.costBuf[l] = p.costBuf[l][:m+1]
		p.nextBuf[l] = p.nextBuf[l][:m+1]
		for a := range p.costBuf[l] {
			p.costBuf[l][a] = math.Inf(1)
		}
	}
	return p.costBuf[:lines+1], p.nextBuf[:lines+1]
}

// cues times the planned cues. A cue starts with its first word (or
// the gap after the cue before, if that is later) and stays until its
// last word is said and it has been shown long enough to read and for
// the minimum time, into the silence after it, but no longer than the
// longest time, nor past the gap before the next cue's first word or the
// media's end.
func (p *planner) cues(planned []plannedCue) []Cue {
	out := make([]Cue, 0, len(planned))
	prevEnd := math.MinInt
	floor := max(1, min(p.minCue, floorMs))
	for k, pc := range planned {
		lines := p.lineTexts(pc)
		width := 0
		for _, l := range lines {
			width += textWidth(l)
		}
		start := p.toks[pc.first].start
		if prevEnd != math.MinInt {
			start = max(start, prevEnd+p.gap)
		}
		want := max(p.toks[pc.last-1].end, start+p.need(width))
		limit := min(start+p.maxCue, p.end)
		if k+1 < len(planned) {
			limit = min(limit, p.toks[planned[k+1].first].start-p.gap)
		}
		end := max(min(want, limit), start+floor)
		out = append(out, Cue{Start: float64(start) / 1000, End: float64(end) / 1000, Lines: lines})
		prevEnd = end
	}
	return out
}

// lineTexts writes a planned cue's lines.
func (p *planner) lineTexts(pc plannedCue) []string {
	lines := make([]string, 0, len(pc.starts))
	for n, a := range pc.starts {
		b := pc.last
		if n+1 < len(pc.starts) {
			b = pc.starts[n+1]
		}
		var line strings.Builder
		for k := a; k < b; k++ {
			if k > a && !p.toks[k].glue {
				line.WriteByte(' ')
			}
			line.WriteString(p.toks[k].text)
		}
		lines = append(lines, line.String())
	}
	return lines
}
