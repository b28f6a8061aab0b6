package template

// Task types, as the built-ins name them.
const (
	image      = "image_generation"
	video      = "video_generation"
	transcribe = "audio_transcription"
	subtitles  = "subtitle_generation"
)

// builtins are the templates every catalog holds. Their texts follow the
// field's habits (PROMPTS.md): subject first, then style, light and lens
// for images; subject and motion, then shot, camera, light and atmosphere
// for video (the HunyuanVideo handbook); camera move first in positive
// words for Runway; terms in the audio's language for transcription.
func builtins() []Spec {
	return []Spec{
		{
			Name:        "photo",
			Version:     1,
			Description: "A photograph: the prompt with a photographic style, lighting and lens.",
			TaskTypes:   []string{image},
			Prompt:      "{prompt}, {style}, {lighting}, {focal_length}mm lens, f/{aperture}, sharp focus, fine detail",
			NegativePrompt: "blurry, out of focus, overexposed, underexposed, distorted proportions, deformed hands, extra fingers, " +
				"cartoon, illustration, painting, 3d render, watermark, text, logo",
			Params: []Param{
				{Name: "style", Type: TypeEnum, Default: "natural", Description: "photographic style", Presets: map[string]Preset{
					"natural":     {Prompt: "natural photograph, true-to-life colours"},
					"film":        {Prompt: "analog film photograph, 35mm film grain, soft contrast", NegativePrompt: "digital look, oversaturated colours"},
					"studio":      {Prompt: "studio photograph, seamless backdrop, softbox lighting", NegativePrompt: "cluttered background"},
					"documentary": {Prompt: "documentary photograph, candid moment, available light", NegativePrompt: "posed, staged"},
					"portrait":    {Prompt: "portrait photograph, eye-level, softly blurred background"},
				}},
				{Name: "lighting", Type: TypeEnum, Default: "auto", Description: "light; auto leaves it to the style", Presets: map[string]Preset{
					"auto":        {},
					"golden_hour": {Prompt: "warm golden-hour sunlight, long soft shadows"},
					"blue_hour":   {Prompt: "cool blue-hour twilight"},
					"overcast":    {Prompt: "soft overcast daylight"},
					"night":       {Prompt: "night scene, practical lights, deep shadows", NegativePrompt: "daylight"},
					"low_key":     {Prompt: "low-key lighting, dramatic shadows"},
					"high_key":    {Prompt: "high-key lighting, bright and airy"},
				}},
				{Name: "focal_length", Type: TypeInt, Default: 50, Min: new(8.0), Max: new(800.0), Description: "lens focal length in millimetres"},
				{Name: "aperture", Type: TypeNumber, Min: new(0.95), Max: new(32.0), Description: "f-number; unset leaves the depth of field to the model"},
			},
			Variants: map[string]Variant{
				// OpenAI's image models take no negative prompt: say in the
				// prompt, in positive words, what it would have excluded.
				"provider:openai": {Prompt: "A photograph of {prompt}, {style}, {lighting}, taken with a {focal_length}mm lens, at f/{aperture}, " +
					"in sharp focus with fine detail and natural proportions, with no text, logos or watermarks."},
			},
		},
		{
			Name:        "cinematic",
			Version:     1,
			Description: "A film still, or for video a film shot: colour grade, shot size and mood, and for video a camera move.",
			TaskTypes:   []string{image, video},
			Prompt:      "cinematic film still, {prompt}, {shot}, {style}, {mood} mood, shallow depth of field, anamorphic lens, film grain",
			NegativePrompt: "blurry, low quality, flat lighting, overexposed, washed out, amateur snapshot, cartoon, " +
				"watermark, text, logo",
			Params: []Param{
				{Name: "style", Type: TypeEnum, Default: "blockbuster", Description: "colour grade and look", Presets: map[string]Preset{
					"blockbuster":  {Prompt: "teal and orange colour grade, dramatic contrast"},
					"noir":         {Prompt: "black and white film noir, hard shadows, high contrast", NegativePrompt: "colour"},
					"seventies":    {Prompt: "1970s film stock, warm faded colours, halation"},
					"neon":         {Prompt: "neon-lit night, magenta and cyan palette, wet reflections"},
					"naturalistic": {Prompt: "naturalistic colour grade, soft practical light"},
					"epic":         {Prompt: "sweeping vista, volumetric light, atmospheric haze"},
				}},
				{Name: "shot", Type: TypeEnum, Default: "auto", Description: "shot size or angle; auto leaves it to the model", Presets: map[string]Preset{
					"auto":             {},
					"wide":             {Prompt: "wide establishing shot"},
					"medium":           {Prompt: "medium shot"},
					"close_up":         {Prompt: "close-up"},
					"extreme_close_up": {Prompt: "extreme close-up"},
					"low_angle":        {Prompt: "low-angle shot"},
					"aerial":           {Prompt: "aerial shot"},
				}},
				{Name: "mood", Type: TypeString, MaxLength: 60, Description: "a word or two, such as tense or melancholic"},
				{Name: "camera", Type: TypeEnum, Default: "slow_push_in", Description: "video only: the camera's move", Presets: map[string]Preset{
					"static":       {Prompt: "static locked-off camera", NegativePrompt: "camera shake"},
					"slow_push_in": {Prompt: "slow push-in toward the subject"},
					"pull_back":    {Prompt: "slow pull-back revealing the scene"},
					"pan":          {Prompt: "smooth horizontal pan"},
					"tracking":     {Prompt: "tracking shot following the subject"},
					"orbit":        {Prompt: "slow orbit around the subject"},
					"handheld":     {Prompt: "handheld camera, subtle natural shake"},
					"crane":        {Prompt: "rising crane shot"},
				}},
			},
			Variants: map[string]Variant{
				video: {
					Prompt: "{prompt}, {camera}, {shot}, {style}, {mood} mood, smooth cinematic motion, natural motion blur, 24 fps film look",
					NegativePrompt: "blurry, low quality, flickering, jitter, warped faces, morphing, distorted limbs, frozen frame, " +
						"flat lighting, watermark, text, logo",
				},
			},
		},
		{
			Name:           "illustration",
			Version:        1,
			Description:    "An illustration in a chosen medium, with an optional palette and mood; no lettering unless asked for.",
			TaskTypes:      []string{image},
			Prompt:         "{prompt}, {style}, {palette} colour palette, {mood} mood, {lettering}, clean composition, expressive detail",
			NegativePrompt: "photograph, photorealistic, blurry, low quality, jpeg artifacts, deformed hands, extra limbs",
			Params: []Param{
				{Name: "style", Type: TypeEnum, Default: "digital_painting", Description: "medium and style", Presets: map[string]Preset{
					"digital_painting": {Prompt: "digital painting, painterly brushwork, rich colour"},
					"watercolor":       {Prompt: "watercolour illustration, soft washes, paper texture", NegativePrompt: "hard edges, digital gradients"},
					"ink":              {Prompt: "ink drawing, bold linework, cross-hatching", NegativePrompt: "colour fills"},
					"flat_vector":      {Prompt: "flat vector illustration, clean geometric shapes, solid colours", NegativePrompt: "gradients, texture, noise"},
					"anime":            {Prompt: "anime illustration, cel shading, crisp lineart", NegativePrompt: "3d render"},
					"storybook":        {Prompt: "children's storybook illustration, gouache, gentle whimsy"},
					"pixel_art":        {Prompt: "pixel art, limited palette, crisp pixels", NegativePrompt: "anti-aliasing, smooth gradients"},
				}},
				{Name: "palette", Type: TypeString, MaxLength: 60, Description: "colours, such as muted pastel or black and gold"},
				{Name: "mood", Type: TypeString, MaxLength: 60, Description: "a word or two, such as cosy or eerie"},
				// Off by default: image models scatter garbled letters
				// unless the negative prompt forbids them.
				{Name: "lettering", Type: TypeBool, Default: false, Description: "allow text in the picture", Presets: map[string]Preset{
					"true":  {Prompt: "clean legible hand lettering"},
					"false": {NegativePrompt: "text, lettering, signature, watermark"},
				}},
			},
		},
		{
			Name:        "cinematic-shot",
			Version:     1,
			Description: "One continuous cinematic shot: subject and action first, then pace, shot size, camera move, light and atmosphere.",
			TaskTypes:   []string{video},
			Prompt:      "{prompt}, {pace}, {shot}, {camera}, {lighting} lighting, {mood} atmosphere, cinematic, one continuous shot",
			NegativePrompt: "blurry, low quality, flickering, jitter, warped faces, morphing, distorted limbs, sudden cuts, " +
				"frozen frame, watermark, text, logo",
			Params: []Param{
				{Name: "shot", Type: TypeEnum, Default: "medium", Description: "shot size or angle", Presets: map[string]Preset{
					"wide":             {Prompt: "wide shot"},
					"medium":           {Prompt: "medium shot"},
					"close_up":         {Prompt: "close-up"},
					"extreme_close_up": {Prompt: "extreme close-up"},
					"low_angle":        {Prompt: "low-angle shot"},
					"high_angle":       {Prompt: "high-angle shot"},
					"aerial":           {Prompt: "aerial drone shot"},
					"pov":              {Prompt: "first-person point-of-view shot"},
				}},
				{Name: "camera", Type: TypeEnum, Default: "push_in", Description: "the camera's move", Presets: map[string]Preset{
					"static":    {Prompt: "static camera", NegativePrompt: "camera movement, camera shake"},
					"push_in":   {Prompt: "slow push-in"},
					"pull_out":  {Prompt: "slow pull-out"},
					"pan_left":  {Prompt: "pan left"},
					"pan_right": {Prompt: "pan right"},
					"tilt_up":   {Prompt: "tilt up"},
					"tilt_down": {Prompt: "tilt down"},
					"tracking":  {Prompt: "tracking shot following the subject"},
					"orbit":     {Prompt: "orbit around the subject"},
					"handheld":  {Prompt: "handheld camera, subtle shake"},
					"crane_up":  {Prompt: "crane up"},
				}},
				{Name: "pace", Type: TypeEnum, Default: "natural", Description: "speed of the motion", Presets: map[string]Preset{
					"slow":        {Prompt: "slow, graceful motion"},
					"natural":     {Prompt: "natural, realistic motion"},
					"fast":        {Prompt: "fast, energetic motion"},
					"slow_motion": {Prompt: "slow motion, high frame rate look"},
				}},
				{Name: "lighting", Type: TypeString, MaxLength: 60, Description: "such as golden hour or neon"},
				{Name: "mood", Type: TypeString, MaxLength: 60, Description: "such as serene or ominous"},
			},
			Variants: map[string]Variant{
				// Runway's guide: the camera move first, then the scene,
				// then details, in plain positive words.
				"provider:runway": {Prompt: "{camera}: {prompt}. {pace}, {shot}, {lighting} lighting, {mood} atmosphere."},
			},
		},
		{
			Name:        "product-turntable",
			Version:     1,
			Description: "A product turning a full circle on a turntable, camera locked off, for a shop or an advert.",
			TaskTypes:   []string{video},
			Prompt: "{prompt}, product on a turntable, {speed} 360-degree rotation {direction}, {background} background, {lighting}, " +
				"{reflection}, locked-off camera, product centred in frame, crisp detail, commercial product video",
			NegativePrompt: "blurry, low quality, warped product, changing shape, melting, morphing logo, extra objects, hands, people, " +
				"camera shake, flicker, cluttered background, watermark, text overlay",
			Params: []Param{
				{Name: "speed", Type: TypeEnum, Default: "slow", Allowed: []string{"slow", "steady", "fast"}, Description: "how fast it turns"},
				{Name: "direction", Type: TypeEnum, Default: "clockwise", Allowed: []string{"clockwise", "counterclockwise"}},
				{Name: "background", Type: TypeString, Default: "seamless white", MaxLength: 60, Description: "such as seamless white or soft grey gradient"},
				{Name: "lighting", Type: TypeEnum, Default: "studio", Description: "light on the product", Presets: map[string]Preset{
					"studio":   {Prompt: "soft studio lighting, gentle highlights"},
					"dramatic": {Prompt: "dramatic rim lighting, deep shadows", NegativePrompt: "flat lighting"},
					"natural":  {Prompt: "soft natural window light"},
					"neon":     {Prompt: "coloured neon accent lights"},
				}},
				{Name: "reflection", Type: TypeBool, Default: true, Description: "a reflection under the product", Presets: map[string]Preset{
					"true": {Prompt: "subtle reflection on a glossy surface"},
				}},
			},
		},
		{
			Name:    "vocabulary",
			Version: 1,
			// Whisper reads only the last 224 tokens of its prompt, in the
			// audio's language; AssemblyAI's key terms are at most 6 words.
			Description: "A transcription hint: the prompt as context, then the names, jargon and acronyms to spell as listed. " +
				"Keep it short and in the audio's language.",
			TaskTypes: []string{transcribe, subtitles},
			Prompt:    "{prompt}. {label}: {terms}.",
			Params: []Param{
				{Name: "terms", Type: TypeList, MaxItems: 100, MaxLength: 60, Description: "terms as they should be spelt"},
				{Name: "label", Type: TypeString, Default: "Glossary", MaxLength: 40, Description: "the word before the terms, in the audio's language"},
			},
		},
	}
}
