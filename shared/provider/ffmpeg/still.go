package ffmpeg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"mime"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/httpapi"
	"github.com/videoai/mediatasks/shared/provider/internal/colour"
	"github.com/videoai/mediatasks/shared/provider/internal/localjob"
)

// maxStillSide bounds an input image's sides: a larger one would take
// gigabytes to decode and scale.
const maxStillSide = 8192

// Where a render's still came from, as the result's "still" says.
const (
	SourceMedia = "media"     // the task's input media
	SourceURL   = "image_url" // input_data.image_url
	SourceMaker = "maker"     // the StillMaker set
	SourceDrawn = "drawn"     // drawn from the prompt: simulated
)

// stillInfo is the still of a render.
type stillInfo struct {
	file          string // in the job's folder
	source        string
	simulated     bool // a StillMaker's invented still
	width, height int
}

// still fetches or makes the render's still, writes it into dir, and
// checks that ffmpeg reads it as an image.
func (p *FFmpeg) still(ctx context.Context, req provider.Request, s spec, dir string) (stillInfo, error) {
	var (
		data      []byte
		ct        string
		source    string
		simulated bool
		err       error
	)
	switch {
	case req.Media != nil:
		source = SourceMedia
		if mt := mediaType(req.Media.ContentType); mt != "" && !strings.HasPrefix(mt, "image/") {
			return stillInfo{}, provider.NewRejected("invalid_image", fmt.Sprintf("the input media is %s, not an image", mt), nil)
		}
		data, ct, err = p.fetcher.Media(ctx, req.Media, p.maxImage)
		if err != nil {
			return stillInfo{}, inputFault("the input image could not be read", err)
		}
	case s.in.ImageURL != "":
		source = SourceURL
		data, ct, err = p.fetcher.Get(ctx, s.in.ImageURL, "image/")
		if err != nil {
			return stillInfo{}, inputFault("input_data.image_url could not be fetched", err)
		}
	default:
		if box := p.stills.Load(); box != nil {
			source = SourceMaker
			made, err := box.m.MakeStill(ctx, req, s.in.Prompt, s.width, s.height)
			if err != nil {
				return stillInfo{}, fmt.Errorf("make the still: %w", err)
			}
			data, ct, simulated = made.Data, made.ContentType, made.Simulated
		} else {
			source = SourceDrawn
			data, err = drawStill(s.width, s.height, hashString(s.in.Prompt))
			if err != nil {
				return stillInfo{}, provider.NewTransient("encode", "draw the still", err)
			}
			ct = "image/png"
		}
	}
	sniffed := mediaType(http.DetectContentType(data))
	if !strings.HasPrefix(sniffed, "image/") && sniffed != "application/octet-stream" {
		return stillInfo{}, provider.NewRejected("invalid_image", fmt.Sprintf("the input image is %s, not an image", sniffed), nil)
	}
	ext := httpapi.ExtOf(ct)
	if ext == ".bin" || !strings.HasPrefix(mediaType(ct), "image/") {
		ext = httpapi.ExtOf(sniffed)
	}
	if ext == ".bin" {
		ext = ".img"
	}
	info := stillInfo{file: stillPrefix + ext, source: source, simulated: simulated}
	if err := os.WriteFile(filepath.Join(dir, info.file), data, 0o600); err != nil {
		return stillInfo{}, provider.NewTransient("work_dir", "write the still", err)
	}
	info.width, info.height, err = p.probe(ctx, dir, info.file)
	if err != nil {
		return stillInfo{}, err
	}
	return info, nil
}

// inputFault rewords a fetch's error as the request's: a permanent one
// says nothing of this provider's health.
func inputFault(what string, err error) error {
	var pe *provider.Error
	if !errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", what, err)
	}
	out := *pe
	// The fetcher words its errors for a provider's output files.
	msg := strings.NewReplacer("the provider's file URL", "the URL", "the provider's file", "the file").Replace(pe.Message)
	out.Message = what + ": " + msg
	if out.Kind == provider.Permanent {
		out.RequestFault = true
	}
	return &out
}

// probe decodes the still's first frame with ffprobe, for its size: an
// image it cannot read is the request's fault.
func (p *FFmpeg) probe(ctx context.Context, dir, file string) (w, h int, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.ffprobe, "-hide_banner", "-v", "error", "-select_streams", "v:0",
		"-read_intervals", "%+#1", "-show_entries", "frame=width,height", "-of", "csv=p=0", file)
	cmd.Dir = dir
	cmd.SysProcAttr = localjob.GroupAttr()
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = 2 * time.Second
	var stderr tailBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return 0, 0, provider.NewTransient("ffprobe", "ffprobe took too long", ctx.Err())
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) && !localjob.Signaled(ee.ProcessState) {
			return 0, 0, provider.NewRejected("invalid_image", "ffmpeg cannot read the input image: "+lastLines(stderr.Bytes(), dir), nil)
		}
		return 0, 0, provider.NewTransient("ffprobe", "run ffprobe", err)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	ws, hs, _ := strings.Cut(strings.TrimSpace(line), ",")
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(strings.TrimSuffix(hs, ","))
	if err1 != nil || err2 != nil || w < 1 || h < 1 {
		return 0, 0, provider.NewRejected("invalid_image", "ffmpeg cannot read the input image: "+lastLines(stderr.Bytes(), dir), nil)
	}
	if w > maxStillSide || h > maxStillSide {
		return 0, 0, provider.NewRejected("invalid_image", fmt.Sprintf("the input image is %dx%d; at most %d a side is taken", w, h, maxStillSide), nil)
	}
	return w, h, nil
}

func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(ct))
	}
	return mt
}

// drawStill draws the still of a prompt without an image: a diagonal
// gradient between two colours of the seed, with soft discs over it, so
// that the zoom and the pan show.
func drawStill(w, h int, seed uint64) ([]byte, error) {
	next := func() float64 { // splitmix64
		seed += 0x9e3779b97f4a7c15
		z := seed
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		return float64((z^(z>>31))>>11) / (1 << 53)
	}
	hue := next()
	a, b := colour.HSV(hue, 0.6, 0.95), colour.HSV(hue+0.35+0.3*next(), 0.75, 0.35)
	type disc struct {
		x, y, r float64
		c       color.NRGBA
	}
	discs := make([]disc, 7)
	for i := range discs {
		discs[i] = disc{x: next() * float64(w), y: next() * float64(h), r: (0.05 + 0.12*next()) * float64(min(w, h)),
			c: colour.HSV(hue+next()*0.5, 0.4, 1)}
	}
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	span := float64(w + h)
	for y := range h {
		row := img.Pix[y*img.Stride : y*img.Stride+w*4]
		for x := range w {
			c := colour.Lerp(a, b, float64(x+y)/span)
			for _, d := range discs {
				dist := math.Hypot(float64(x)-d.x, float64(y)-d.y)
				if dist < d.r {
					t := 1 - dist/d.r
					c = colour.Lerp(c, d.c, 0.7*t*t)
				}
			}
			row[x*4], row[x*4+1], row[x*4+2], row[x*4+3] = c.R, c.G, c.B, 255
		}
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode png %dx%d: %w", w, h, err)
	}
	return buf.Bytes(), nil
}

// Caption lines: at most this many, each as many characters as fit.
const captionLines = 3

// writeCaption writes the prompt as drawtext's text, wrapped to the
// frame's width and cut to captionLines; a blank prompt writes nothing
// and answers false.
func writeCaption(path, prompt string, w, h int) bool {
	text := wrapCaption(prompt, captionWidth(w, h))
	if text == "" {
		return false
	}
	return os.WriteFile(path, []byte(text), 0o600) == nil
}

// captionWidth is how many characters of DejaVu Sans at the caption's
// size fit a line (a character is about 0.55 em on average).
func captionWidth(w, h int) int {
	size := float64(min(w, h) / 20)
	return int(0.85 * float64(w) / (0.55 * size))
}

func wrapCaption(prompt string, width int) string {
	words := strings.FieldsFunc(prompt, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
	var lines []string
	var cur strings.Builder
	cut := false
	for _, word := range words {
		if utf8.RuneCountInString(word) > width {
			word = string([]rune(word)[:width-1]) + "…"
		}
		switch {
		case cur.Len() == 0:
			cur.WriteString(word)
		case utf8.RuneCountInString(cur.String())+1+utf8.RuneCountInString(word) <= width:
			cur.WriteString(" " + word)
		default:
			lines = append(lines, cur.String())
			cur.Reset()
			cur.WriteString(word)
		}
		if len(lines) == captionLines {
			cut = true
			cur.Reset()
			break
		}
	}
	if cur.Len() > 0 {
		lines = append(lines, cur.String())
	}
	if cut {
		last := []rune(lines[len(lines)-1])
		if len(last) > width-1 {
			cutAt := width - 1
			for i := width - 1; i > 0; i-- {
				if last[i] == ' ' {
					cutAt = i
					break
				}
			}
			last = last[:cutAt]
		}
		lines[len(lines)-1] = strings.TrimRight(string(last), " ,.;:") + "…"
	}
	return strings.Join(lines, "\n")
}
