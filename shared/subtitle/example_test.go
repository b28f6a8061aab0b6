package subtitle_test

import (
	"fmt"

	"github.com/videoai/mediatasks/shared/subtitle"
	"github.com/videoai/mediatasks/shared/transcript"
)

func ExampleFormat() {
	tr := transcript.Spread("en", "Ada Lovelace wrote the first program. It was for a machine that was never built.", 5)
	vtt, err := subtitle.Format(tr, subtitle.FormatVTT, subtitle.DefaultOptions())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(vtt))
	// Output:
	// WEBVTT
	//
	// 00:00:00.000 --> 00:00:02.263
	// Ada Lovelace wrote the first program.
	//
	// 00:00:02.346 --> 00:00:04.957
	// It was for a machine that was never built.
}
