package sim

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strconv"
	"strings"
	"sync"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/internal/colour"
	"github.com/videoai/mediatasks/shared/task"
)

// Limits of what the sim draws: the API allows less; these only keep a
// hand-made request from asking for gigabytes.
const (
	maxImageSide = 4096
	maxImages    = 10
)

// palettes is how many colourings an image or a video can have: few
// enough that every encoded file can be kept.
const palettes = 32

// imageResult draws the input's images (its fields left out have their
// defaults).
func imageResult(in *task.ImageInput, render bool) (*provider.Result, error) {
	w, h, ok := parseSize(in.Size)
	if !ok {
		return nil, provider.NewRejected("invalid_input", fmt.Sprintf("size %q is not WxH with sides from 1 to %d", in.Size, maxImageSide), nil)
	}
	n := *in.N
	if n < 1 || n > maxImages {
		return nil, provider.NewRejected("invalid_input", fmt.Sprintf("n must be from 1 to %d, not %d", maxImages, n), nil)
	}
	if !render {
		return nil, nil
	}
	seed := hashString(in.Prompt, in.NegativePrompt, in.Style)
	files := make([]provider.File, n)
	for i := range files {
		data, err := cachedPNG(w, h, int((seed+uint64(i))%palettes))
		if err != nil {
			return nil, provider.NewTransient("encode", "encode the image", err)
		}
		// A copy: the caller owns its result and may change it.
		files[i] = provider.File{ContentType: "image/png", Ext: ".png", Data: bytes.Clone(data)}
	}
	return &provider.Result{Files: files, Extra: map[string]any{
		"seed":  int64(seed >> 11), // below 2^53: exact in JSON numbers, JavaScript included
		"size":  strconv.Itoa(w) + "x" + strconv.Itoa(h),
		"width": w, "height": h,
	}}, nil
}

func parseSize(s string) (w, h int, ok bool) {
	ws, hs, found := strings.Cut(s, "x")
	if !found {
		return 0, 0, false
	}
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if err1 != nil || err2 != nil || w < 1 || h < 1 || w > maxImageSide || h > maxImageSide {
		return 0, 0, false
	}
	return w, h, true
}

// encoded is one cached file, made once however many callers ask at once.
type encoded struct {
	once sync.Once
	data []byte
	err  error
}

// fileCache keeps encoded files by what determines them. Encoding a large
// PNG takes tens of milliseconds; the platform's load target leaves
// microseconds per task, so each (size, palette) is encoded once.
type fileCache[K comparable] struct {
	mu sync.Mutex
	m  map[K]*encoded
}

func (c *fileCache[K]) get(k K, build func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[K]*encoded{}
	}
	e, ok := c.m[k]
	if !ok && len(c.m) >= maxCached {
		// Sizes outside the API's few fill it only from hand-made requests;
		// past the bound they are drawn each time rather than kept.
		c.mu.Unlock()
		return build()
	}
	if !ok {
		e = &encoded{}
		c.m[k] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.data, e.err = build() })
	return e.data, e.err
}

// maxCached bounds each cache: the API's 5 image sizes (or 3 aspect
// ratios times 20 durations) times the palettes fit, with room to spare.
const maxCached = 2048

type pngKey struct{ w, h, palette int }

var pngs fileCache[pngKey]

func cachedPNG(w, h, palette int) ([]byte, error) {
	return pngs.get(pngKey{w, h, palette}, func() ([]byte, error) { return drawPNG(w, h, palette) })
}

// paletteColors gives palette p's two colours, spread around the hue circle.
func paletteColors(p int) (a, b color.NRGBA) {
	return colour.HSV(float64(p)/palettes, 0.65, 0.95), colour.HSV(float64(p)/palettes+0.4, 0.8, 0.45)
}

// drawPNG draws diagonal bands stepping between the palette's colours,
// with a lighter stripe along the diagonal: recognisable per palette, and
// made of runs of one colour, so that it compresses to a few kilobytes
// (the platform stores every output, a thousand a second at full load).
func drawPNG(w, h, palette int) ([]byte, error) {
	a, b := paletteColors(palette)
	const steps = 12
	var band, lit [steps]color.NRGBA
	for i := range band {
		band[i] = colour.Lerp(a, b, float64(i)/(steps-1))
		lit[i] = colour.Lerp(band[i], color.NRGBA{255, 255, 255, 255}, 0.25)
	}
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	span := w + h - 1
	stripe := max(1, w/16)
	for y := range h {
		row := img.Pix[y*img.Stride : y*img.Stride+w*4]
		for x := range w {
			c := band[(x+y)*steps/span]
			if d := x - y; d > -stripe && d < stripe {
				c = lit[(x+y)*steps/span]
			}
			row[x*4], row[x*4+1], row[x*4+2], row[x*4+3] = c.R, c.G, c.B, 255
		}
	}
	var buf bytes.Buffer
	// Encoded once per (size, palette); best compression would save a fifth
	// of the bytes for three times the encoding time.
	enc := png.Encoder{CompressionLevel: png.DefaultCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode png %dx%d: %w", w, h, err)
	}
	return buf.Bytes(), nil
}
