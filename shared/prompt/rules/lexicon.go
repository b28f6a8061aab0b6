package rules

import "strings"

// slot is what a word tells about a prompt. A word may tell several things
// ("cinematic" is a style and, for a video, a look).
type slot uint32

const (
	// Aspects of the picture a prompt may already cover: when one is
	// covered, the enhancer adds nothing for it.
	slotStyle slot = 1 << iota
	slotPhoto      // a photographic style: a lens default fits
	slotLighting
	slotComposition // framing, angle, lens, depth of field
	slotQuality
	slotMotion
	slotPosture // a subject at rest: motion is added around it, not instead
	slotCamera  // a video camera move or shot
	slotAtmosphere

	// Hints that steer which default is picked.
	slotFantasy // imagined subjects: painted styles fit better than photos
	slotIndoor
	slotStudio  // product and studio shots: studio light
	slotGraphic // flat design (logos, icons): no light, no lens

	// Grammar, for placing a motion verb and for dropping filler words
	// from vocabulary hints.
	slotStop       // function words: never a subject
	slotFiller     // words that say "these are terms", not terms
	slotDet        // a determiner that may open a subject phrase
	slotDetPlural  // a determiner that makes the subject plural
	slotClauseVerb // a verb that makes a phrase a clause ("is", "that")
	slotTitle      // a title abbreviated before a name ("Dr.")
)

// descriptive is every slot that describes a picture rather than naming
// what is in it: a prompt of such words alone lacks a subject.
const descriptive = slotStyle | slotPhoto | slotLighting | slotComposition | slotQuality |
	slotMotion | slotPosture | slotCamera | slotAtmosphere

// category is the kind of thing a subject noun names, for the video motion
// rule.
type category uint8

const (
	catNone category = iota
	catAnimal
	catBird
	catSwimmer
	catPerson
	catVehicle
	catWater
	catFire
	catSmoke
	catPlant
	catCloud
	// Places move only through what is in them.
	catWoods
	catLand
	catShore
	catTown
	catInterior
)

// mover reports whether a subject of this category can carry a motion verb.
func (c category) mover() bool { return c >= catAnimal && c <= catCloud }

// entry is everything the lexicon knows of one word or phrase.
type entry struct {
	slots  slot
	neg    uint8 // the negTerms this phrase is, as a bit
	cat    category
	plural bool
	word   string // a noun as listed
	one    string // and its singular
}

// lexicon maps lower-case words and phrases of up to three words to what
// they tell. It is built once; lookups take a key from a stack buffer and
// do not allocate.
var lexicon = buildLexicon()

const maxPhraseWords = 3

// maxKey bounds the lexicon keys; a longer word is in no table.
const maxKey = 48

var styleWords = `photo photos photograph photographs photography photographic photorealistic
photo-realistic photorealism realistic realism hyperrealistic hyper-realistic hyperrealism
raw|photo dslr polaroid analog|film film|photo film|still 35mm|film editorial|photo
stock|photo product|photo street|photography portrait|photography film|grain`

var artWords = `painting paintings painted oil|painting watercolor watercolour acrylic gouache
pastel sketch sketched drawing drawn pencil charcoal ink illustration illustrated anime manga
cartoon cartoonish comic 3d 3d|render render rendered rendering cgi octane unreal|engine
blender pixel|art pixel-art digital|art concept|art vector low|poly low-poly isometric
cinematic film|noir vintage retro art|nouveau art|deco impressionist impressionism
expressionist surreal surrealism surrealist minimalist minimalism abstract claymation origami
papercut line|art lineart cyberpunk steampunk vaporwave synthwave ukiyo-e studio|ghibli ghibli
pixar disney baroque renaissance gothic art artwork artistic style stylized stylised
aesthetic poster logo icon emblem sticker tattoo infographic diagram flyer banner mural
graffiti woodcut engraving lithograph mosaic stained|glass clay plush voxel`

var lightingWords = `light lights lighting lit backlit backlight backlighting sunlight sunlit
moonlight moonlit candlelight candlelit daylight lamplight firelight starlight torchlight
neon glow glowing glows shadow shadows shade shaded silhouette silhouetted sunset sunsets
sunrise dusk dawn twilight night nighttime night-time midnight evening noon midday
golden|hour blue|hour overcast bright brightly dim dimly dark darkness luminous illuminated
illumination rim|light chiaroscuro softbox spotlight spotlit floodlit flash strobe sunbeam sunbeams
god|rays volumetric radiant iridescent bioluminescent`

var compositionWords = `composition composed framing framed close-up closeup close|up
extreme|close-up portrait headshot full|body full-body full-length half-body wide|shot
wide-angle wide|angle medium|shot long|shot panorama panoramic aerial aerial|view
bird's-eye bird's-eye|view birds-eye top-down overhead low|angle low-angle high|angle
high-angle eye-level eye|level dutch|angle macro telephoto fisheye fish-eye lens bokeh
depth|of|field dof rule|of|thirds symmetry symmetrical centered centred off-center
off-centre foreground background perspective top|view side|view front|view profile
silhouette cropped angle shot`

var qualityWords = `detailed detail details intricate intricately sharp sharp|focus crisp 4k 8k
16k hd uhd high|resolution high-resolution hi-res highres masterpiece best|quality
high|quality quality award-winning award|winning professional ultra-detailed ultra|detailed
hyper-detailed hdr texture textured textures fine|detail clean|lines`

var motionWords = `motion movement movements timelapse time-lapse slow|motion
slow-motion slow-mo action`

// motionVerbs are listed by their base form; buildLexicon adds the regular
// inflections, and irregularVerbs the rest.
var motionVerbs = `move walk stroll wander march run jog sprint race rush dash hurry chase gallop trot
fly soar glide hover flutter flap swim dive float drift surf paddle row sail ski skate
climb crawl jump leap hop skip bounce dance spin twirl rotate turn swirl swing sway
shake nod blink glance breathe ruffle stretch roll tumble rise lift flow pour drip splash
ripple crash burst explode erupt flicker shimmer sparkle twinkle pulse melt grow bloom unfold
travel drive ride cruise approach emerge fade wobble tremble quiver play fight kick throw push
pull reach wag rustle billow cascade curl steam`

var irregularVerbs = `ran flew flown swam swum rode ridden drove driven risen falling falls fell
fallen spun swung threw thrown shook shaken blew blown grew grown sprang leapt waving`

// doubled are the verbs that double their last letter before -ing and -ed
// (travelling, as British English spells it).
var doubled = map[string]bool{"run": true, "jog": true, "hop": true, "skip": true, "drip": true,
	"spin": true, "swim": true, "flap": true, "wag": true, "trot": true, "travel": true}

var postureWords = `sit sits sitting sat seated stand stands standing stood lie lies lying lay
lay|down sleep sleeps sleeping slept asleep rest rests resting perched perch pose poses posing
posed wait waits waiting kneel kneels kneeling knelt lean leans leaning crouch crouching
crouched still motionless parked idle frozen`

var cameraWords = `camera shot shots dolly dolly-in dolly-out dolly|in dolly|out pan pans panning
tilt tilts tilting zoom zooms zooming zoom-in zoom-out zoom|in zoom|out tracking|shot tracking
handheld hand-held drone drone|shot aerial aerial|shot crane crane|shot static|shot
tripod close-up closeup close|up wide|shot wide-angle pov fpv first-person point|of|view orbit
orbiting orbits push-in pull-back pull|back steadicam gimbal overhead top-down bird's-eye
low|angle high|angle lens angle footage`

var atmosphereWords = `atmosphere atmospheric mood moody ambience ambiance ambient serene serenity
calm peaceful tranquil quiet tense dreamy mysterious eerie cozy cosy gloomy cheerful joyful
melancholic melancholy romantic epic dramatic nostalgic ethereal magical whimsical fog foggy
mist misty haze hazy rain raining rainy snow snowing snowy snowfall storm stormy dust dusty
smoke smoky wind windy breeze breezy warm cold chilly humid`

var fantasyWords = `dragon dragons unicorn unicorns wizard wizards witch witches fairy fairies elf
elves goblin goblins orc orcs troll trolls alien aliens spaceship spaceships starship robot robots
cyborg cyborgs mech monster monsters demon demons angel angels mermaid mermaids phoenix
griffin gryphon kraken golem sorcerer sorceress dinosaur dinosaurs`

var studioWords = `product|photo product|shot product|photography packshot studio|shot
white|background plain|background studio|portrait headshot e-commerce catalog catalogue`

var graphicWords = `logo logos icon icons emblem sticker stickers infographic diagram flyer banner
vector flat|design flat|illustration clipart clip|art wordmark monogram typography lettering
pictogram`

var indoorWords = `room rooms kitchen bedroom bathroom office studio cafe café restaurant
library interior indoors indoor living|room classroom bar shop hall museum church cathedral
temple attic basement`

// stopWords are English function words: never a subject and dropped from
// vocabulary hints.
var stopWords = `a an the and or but nor of in on at to for with without by from as is are was
were be been being am it its it's this that these those very some any into onto over under
up down out off than then so such there here i me my we us our you your he she him her his
they them their what which who whom whose while when where why how not no do does did just
also can could would should will shall may might must have has had about above below
between through during before after again once all each every both few more most other own
same too only if because until against among per via within upon`

// fillerWords say "here are some terms" in vocabulary hints.
var fillerWords = `please vocabulary keywords keyword terms term words word names include includes
including included mention mentions mentioned spelled spelt spelling like etc eg ie
transcribe transcription transcript audio recording contains contain following use using
note spell`

var titles = `mr mrs ms dr prof st jr sr mt rev gen col capt lt sgt hon`

var determiners = `a an the one this that my his her our your its their every each another`

var pluralDeterminers = `two three four five six seven eight nine ten dozens many several some
these those few both all numerous countless`

var clauseVerbs = `is are was were be been am has have had that which who whom whose will would
can could should does do did`

// nouns are the subjects the video motion rule knows, singular|plural.
var nouns = map[category]string{
	catAnimal: `cat|cats kitten|kittens dog|dogs puppy|puppies horse|horses pony|ponies fox|foxes
wolf|wolves bear|bears deer|deer lion|lions lioness|lionesses tiger|tigers elephant|elephants
rabbit|rabbits bunny|bunnies squirrel|squirrels cow|cows sheep|sheep goat|goats pig|pigs
monkey|monkeys panda|pandas giraffe|giraffes zebra|zebras leopard|leopards cheetah|cheetahs
mouse|mice rat|rats raccoon|raccoons hedgehog|hedgehogs koala|koalas kangaroo|kangaroos
camel|camels donkey|donkeys lamb|lambs calf|calves dragon|dragons unicorn|unicorns
dinosaur|dinosaurs retriever|retrievers labrador|labradors poodle|poodles corgi|corgis
husky|huskies puppy|puppies lizard|lizards frog|frogs snake|snakes bison|bison moose|moose
gorilla|gorillas chimpanzee|chimpanzees otter|otters`,
	catBird: `bird|birds eagle|eagles owl|owls hawk|hawks parrot|parrots pigeon|pigeons dove|doves
crow|crows raven|ravens seagull|seagulls gull|gulls hummingbird|hummingbirds sparrow|sparrows
falcon|falcons butterfly|butterflies bee|bees dragonfly|dragonflies moth|moths phoenix|phoenixes
bat|bats flamingo|flamingos heron|herons stork|storks kite|kites`,
	catSwimmer: `fish|fish whale|whales dolphin|dolphins shark|sharks turtle|turtles
jellyfish|jellyfish octopus|octopuses seal|seals penguin|penguins koi|koi goldfish|goldfish
mermaid|mermaids duck|ducks swan|swans`,
	catPerson: `man|men woman|women boy|boys girl|girls child|children kid|kids person|people
lady|ladies gentleman|gentlemen guy|guys dancer|dancers soldier|soldiers knight|knights
wizard|wizards witch|witches astronaut|astronauts chef|chefs musician|musicians
farmer|farmers student|students worker|workers couple|couples family|families crowd|crowds
robot|robots cyborg|cyborgs samurai|samurai ninja|ninjas warrior|warriors king|kings
queen|queens princess|princesses prince|princes grandmother|grandmothers
grandfather|grandfathers teenager|teenagers athlete|athletes runner|runners monk|monks
traveler|travelers traveller|travellers hiker|hikers skater|skaters surfer|surfers
cowboy|cowboys detective|detectives elf|elves fairy|fairies alien|aliens`,
	catVehicle: `car|cars truck|trucks bus|buses train|trains tram|trams bicycle|bicycles
bike|bikes motorcycle|motorcycles boat|boats ship|ships sailboat|sailboats yacht|yachts
plane|planes airplane|airplanes aeroplane|aeroplanes jet|jets helicopter|helicopters
spaceship|spaceships rocket|rockets balloon|balloons taxi|taxis van|vans tractor|tractors
submarine|submarines canoe|canoes kayak|kayaks`,
	catWater: `river|rivers stream|streams waterfall|waterfalls ocean|oceans sea|seas lake|lakes wave|waves water|waters fountain|fountains creek|creeks brook|brooks`,
	catFire:  `fire|fires flame|flames candle|candles campfire|campfires fireplace|fireplaces bonfire|bonfires torch|torches lantern|lanterns fireworks|fireworks`,
	catSmoke: `smoke|smoke steam|steam incense|incense`,
	catPlant: `tree|trees flower|flowers grass|grasses wheat|wheat leaf|leaves rose|roses sunflower|sunflowers tulip|tulips palm|palms bamboo|bamboo willow|willows plant|plants blossom|blossoms`,
	catCloud: `cloud|clouds`,
	catWoods: `forest|forests woods|woods jungle|jungles meadow|meadows field|fields garden|gardens park|parks orchard|orchards`,
	catLand:  `mountain|mountains hill|hills valley|valleys desert|deserts canyon|canyons landscape|landscapes island|islands volcano|volcanoes glacier|glaciers plain|plains`,
	catShore: `beach|beaches coast|coasts shore|shores seaside|seaside harbor|harbors harbour|harbours bay|bays`,
	catTown:  `city|cities street|streets town|towns village|villages market|markets road|roads avenue|avenues downtown|downtown skyline|skylines alley|alleys square|squares`,
	catInterior: `room|rooms kitchen|kitchens bedroom|bedrooms office|offices cafe|cafes café|cafés
library|libraries studio|studios hall|halls classroom|classrooms restaurant|restaurants
church|churches cathedral|cathedrals temple|temples museum|museums`,
}

// negTerms make up the default negative prompts; a term the prompt itself
// names ("a blurry background") is left out. Each type takes the terms of
// its mask, in this order.
var negTerms = [...]string{"blurry", "low quality", "distorted", "deformed", "watermark", "jpeg artifacts",
	"flickering", "jittery motion"}

const (
	negImage uint8 = 0b00111111
	negVideo uint8 = 0b11010111
)

func buildLexicon() map[string]entry {
	m := make(map[string]entry, 2048)
	add := func(list string, s slot) {
		for _, w := range strings.Fields(list) {
			k := strings.ReplaceAll(w, "|", " ")
			e := m[k]
			e.slots |= s
			m[k] = e
		}
	}
	add(styleWords, slotStyle|slotPhoto)
	add(artWords, slotStyle)
	add(lightingWords, slotLighting)
	add(compositionWords, slotComposition)
	add(qualityWords, slotQuality)
	add(motionWords, slotMotion)
	for _, v := range strings.Fields(motionVerbs) {
		for _, f := range inflections(v) {
			add(f, slotMotion)
		}
	}
	add(irregularVerbs, slotMotion)
	add(postureWords, slotPosture)
	add(cameraWords, slotCamera)
	add(atmosphereWords, slotAtmosphere)
	add(fantasyWords, slotFantasy)
	add(indoorWords, slotIndoor)
	add(studioWords, slotStudio)
	add(graphicWords, slotGraphic|slotStyle)
	add(stopWords, slotStop|slotFiller)
	add(fillerWords, slotFiller)
	add(determiners, slotDet)
	add(pluralDeterminers, slotDet|slotDetPlural)
	add(clauseVerbs, slotClauseVerb)
	add(titles, slotTitle)
	// In category order, so that a noun listed twice always gets the first.
	for c := catAnimal; c <= catInterior; c++ {
		for _, pair := range strings.Fields(nouns[c]) {
			one, many, _ := strings.Cut(pair, "|")
			for _, f := range [2]struct {
				w      string
				plural bool
			}{{one, false}, {many, true}} {
				e := m[f.w]
				if e.cat == catNone {
					e.cat, e.plural, e.word, e.one = c, f.plural, f.w, one
				}
				m[f.w] = e
			}
		}
	}
	for i, t := range negTerms {
		e := m[t]
		e.neg |= 1 << i
		m[t] = e
	}
	return m
}

// inflections returns the regular forms of an English verb: walk, walks,
// walking, walked.
func inflections(v string) []string {
	third, ing, ed := v+"s", v+"ing", v+"ed"
	last := v[len(v)-1]
	switch {
	case strings.HasSuffix(v, "sh") || strings.HasSuffix(v, "ch") || last == 's' || last == 'x' || last == 'z':
		third = v + "es"
	case last == 'y' && !strings.ContainsRune("aeiou", rune(v[len(v)-2])):
		third, ed = v[:len(v)-1]+"ies", v[:len(v)-1]+"ied"
	}
	switch {
	case doubled[v]:
		ing, ed = v+string(last)+"ing", v+string(last)+"ed"
	case last == 'e' && !strings.HasSuffix(v, "ee"):
		ing, ed = v[:len(v)-1]+"ing", v+"d"
	}
	return []string{v, third, ing, ed}
}
