"""English word lists, irregular forms and sentence templates for the synthetic corpus.

Pure data plus tiny helpers; stdlib only. The lists deliberately avoid every term of the project's
toxicity lexicon (``curation/data/toxic_words_en.txt``) and phrases that datatrove's C4 filter treats
as boilerplate ("javascript", "cookie", "privacy policy", "terms of use"), so clean documents built
from them are clean for every curation stage.
"""

from __future__ import annotations

NOUNS = """
account acid actor address agency agent airport album alarm animal answer apartment apple archive area argument army
arrow article artist aspect assembly asset atlas attempt audience author avenue award baby badge bakery balance
balcony ball band bank banner barn barrel basket battery beach beam bean bear bed bell belt bench berry bicycle bill
bird blade blanket block board boat body bolt bone book border bottle boundary bowl box branch brand breeze brick
bridge brother brush bucket budget building bulb bundle bus button cabin cabinet cable cafe cake calendar camera
camp campus canal candle canvas canyon capital captain car card career cargo carpet carriage cart case castle
catalog category cave ceiling cell cellar center century chain chair chamber champion channel chapter chart chef
chemist cherry chest chicken chimney church circle citizen city claim class client cliff clinic clock cloud club
coach coast coat code coin collar college colony column comet comment committee community company compass concept
concert conference contract corner corridor cottage council counter country county couple courier course court
cousin cow crane crater crew crop crowd crown crystal cup curtain curve customer cycle dam dancer database daughter
deadline dealer debate decade deck decision degree delay delta dentist department desert desk detail device diagram
dialect diamond diary dictionary diet dinner director disk district doctor document dog doll dome donkey door draft
dragon drawer drawing dream dress driver drum duck dune eagle editor egg elbow election element elephant elevator
emperor empire engine engineer entrance envelope episode equation era error essay estate event evening exam example
exhibit expert factory falcon family farm farmer feather fence ferry festival field figure file film finger
fireplace flag flame fleet flight floor flower folder forest fork formula fortress forum fountain fox frame friend
frog fruit funnel furnace gallery game garage garden gate gauge gear generator gift glacier glass glove goal goat
governor grain grape graph group guard guest guide guitar habit hall hammer handle harbor hat hawk heater hedge
helmet hero highway hill historian hobby holiday horizon horse hospital hotel hour house hunter hut idea image inch
industry inn insect inspector instrument island item jacket jar jewel journal journey judge jungle kettle key
kitchen kite knot label ladder lake lamp lane language lantern laptop lawyer layer leader lecture ledge legend lemon
lens lesson letter library license lid lighthouse lily line lion list lizard lobby lock locomotive lodge log loop
machine magazine magnet manager manual map marble margin market mask mast meal mechanic medal meeting melody member
memory menu merchant message metal meter microscope mill mineral minister minute mirror model module moment
monastery monitor monkey month monument moon motor mountain movie museum musician nail napkin narrator nation needle
neighbor nest network newspaper niece node notebook novel nurse oak object ocean office officer onion opera orange
orbit orchard orchestra organ oven owl owner package page painter painting palace panel paper parade parcel parent
park parrot partner passenger passport path patient pattern pavement peach peak pear pebble pen pencil penguin
pepper period person photo piano picture pier pigeon pillow pilot pine pipe pirate planet plant plate platform
player plot pocket poem poet pond pool port portrait poster pot potter powder prairie preface president printer
prison problem producer product professor profile program project promise proof property proposal province pump
puzzle pyramid quarter queen question rabbit radio rail railway ranch rank reader receipt recipe record region
report reptile reservoir resident resort restaurant result review ribbon rider ridge ring river road robot rock
rocket roof room root rope rose route ruler runway sailor salad sample sandwich satellite saucer scale scanner scarf
scene schedule scholar school scientist score screen script sculpture season seat secretary seed senator sensor
sentence servant server session settlement shadow shell shelter shepherd ship shirt shop shore shoulder signal
singer sister sketch skill slope snake song sound source speaker spider spoon square stadium staff stage stair stamp
star station statue stem step stick stone store storm story stove strategy stream street student studio subject
suburb suitcase summit supplier surface surgeon survey swamp sweater symbol system table tablet tail tailor tank
target task teacher team telescope temple tenant tent terminal territory textbook theater theme theory thread throne
ticket tiger timber tool topic tower town tractor trader tradition trail train tray treasure tree trench trial tribe
trick trip trophy truck trumpet trunk tunnel turtle tutor umbrella uncle uniform union unit university valley van
vase vehicle vendor venue vessel village violin visitor volcano volume volunteer voyage wagon wall wallet warehouse
waterfall wave website wedding week well whale wheel window wing winner wire wizard worker workshop writer yard year
zone ability accuracy activity adventure agreement ambition anxiety approach attitude authority behavior belief
benefit capacity challenge chance change character choice comfort conflict connection context courage creativity
curiosity demand density departure difference difficulty discovery distance diversity effort energy experience
failure freedom friction growth harmony history honesty humor identity impact improvement income influence insight
intention interest invention launch loyalty measure method mistake motion movement mystery notion opinion
opportunity outcome patience pressure principle priority progress purpose quality quantity reason recovery relation
relief reputation request resource response risk routine safety scheme security silence solution speed spirit
stability strength structure success suggestion support surprise talent technique tension threat trust truth value
variety version vision warmth wealth wisdom wonder anchor acre ankle arch attic axle bay blossom boulder brook
cactus canopy carnival cathedral cavern cinema citadel clover cobble compartment comrade conductor cord crate creek
cradle cupboard dairy dock dolphin doorway estuary fabric faucet fern fiddle flute galaxy gazette granite gravel
greenhouse gull hamlet harp hatch haystack herald hermit hive hostel iceberg ivy jasmine kennel kiln lagoon lamb
lattice lever lilac loom mansion marsh meadow mosaic moth mountaineer mural nectar oasis observatory otter paddle
pantry pasture pavilion pelican pendulum pharmacy pilgrim plank plaza porch prism quarry quill raft rampart ravine
reef riddle saddle sapphire scroll shovel shrine sled sparrow spire stallion steeple stool sunflower tavern terrace
thicket thimble tide toad torch trellis tulip turbine valve vineyard walrus wharf willow windmill
""".split()

IRREGULAR_PLURALS = {"child": "children", "person": "people", "mouse": "mice", "tooth": "teeth"}

ADJECTIVES = """
able absent abstract academic accurate active actual acute adequate advanced agile alert alive ambitious ancient
annual anxious apparent aquatic arctic artistic asleep astonishing athletic atomic attractive automatic available
average aware awkward balanced bare basic beautiful bitter blank bold boring brave brief bright brilliant broad
broken brown busy calm capable careful careless casual central certain cheap cheerful chemical chief chilly circular
civic civil classic clean clear clever close cloudy clumsy coastal cold colorful comfortable common compact complete
complex confident constant content cool correct costly countless courageous cozy crisp critical crowded crucial
cultural curious curly curved daily damp dark dear decent deep definite delicate delicious dense dependable digital
diligent direct distant distinct domestic dramatic dry dull durable dusty eager early eastern easy economic
efficient elaborate elastic elderly electric elegant eloquent empty endless energetic enormous entire equal
essential eternal ethical even evident exact excellent exotic expensive experimental explicit external extra
fabulous faint fair faithful familiar famous fancy far fast federal fertile festive fierce final financial fine firm
fiscal flat flexible fluffy fluent foggy foreign formal former fragile frank free frequent fresh friendly frozen
full functional fundamental funny fuzzy generous gentle genuine gifted glad global glossy golden graceful gradual
grand grateful gray great green gritty handsome handy happy hard harsh healthy heavy helpful hidden high historic
hollow honest hopeful horizontal huge humble humid hungry icy ideal idle immense important impressive inner innocent
intense internal invisible joint jolly junior keen kind large late lazy leading lean legal level liberal light
likely limited linear liquid literary little lively local lonely long loose loud lovely loyal lucky lunar magnetic
main major marine massive mature maximum meaningful medical medieval mellow mental mild military minimal minor
mobile modern modest moist monthly moral muddy musical mutual narrow national native natural neat necessary nervous
neutral new nice noble noisy normal northern notable numerous obvious occasional odd official old open optimal
optional oral ordinary organic original outdoor outer overall pale parallel partial passive peaceful peculiar
perfect permanent personal physical plain pleasant polar polite popular portable positive possible powerful
practical precious precise pretty previous primary private productive professional profound prominent proper proud
public pure purple quick quiet radical rapid rare raw ready real recent red regional regular relevant reliable
remote rich rigid ripe robust rocky romantic rough round royal rural rusty sacred safe salty sandy scarce scenic
secret secure senior sensible sensitive serene serious shallow sharp shiny short silent silver similar simple
sincere single skilled slender slight slim slow small smart smooth snowy social soft solar solid sour southern
spacious spare special specific splendid stable stale steady steep sticky stiff still strange strict strong sturdy
subtle sudden sufficient sunny superb superior supreme sweet swift symbolic tall tame tender tense thick thin
thirsty thorough tidy tight tiny tired total tough tragic tranquil tropical true typical ultimate unique universal
unusual upper urban urgent useful usual vague valid valuable vast verbal vertical vibrant visible vital vivid warm
weak wealthy weekly western wet white whole wide wild wise wooden woolen worried young youthful zealous amber ample
arid brisk candid cordial crimson dainty dapper drowsy earnest feeble frail frugal gloomy hasty hearty jagged lavish
lofty meager nimble placid plump prudent quaint rugged shabby sleek sly somber spry stout sullen tepid thrifty timid
vacant vigilant wary weary witty
""".split()

ADVERBS = """
abruptly absently accidentally actively actually annually anxiously barely beautifully boldly briefly brightly
briskly broadly busily calmly carefully casually cautiously cheerfully clearly cleverly closely commonly completely
confidently consistently constantly correctly curiously deeply deliberately directly eagerly easily effectively
efficiently elegantly entirely equally especially eventually evidently exactly faithfully famously finally firmly
fondly formally frankly freely frequently fully generally generously gently genuinely gladly gracefully gradually
greatly happily hastily heavily honestly hopefully humbly immediately increasingly initially instantly intensely
jointly kindly largely lately lightly literally loosely loudly mainly merely mildly mostly naturally nearly neatly
nervously normally notably obviously occasionally officially openly originally partly patiently perfectly personally
politely poorly precisely previously primarily promptly properly proudly publicly quickly quietly rapidly rarely
readily recently regularly reliably repeatedly roughly safely scarcely separately seriously sharply shortly silently
simply slightly slowly smoothly softly solely steadily strictly strongly suddenly surely swiftly tenderly thoroughly
tightly truly typically usually vaguely warmly widely wisely seldom often soon later always
""".split()

VERBS = """
accept achieve acquire adapt add adjust admire admit adopt advise afford agree allow alter amaze analyze announce
answer anticipate apply appoint appreciate approach approve arrange arrive ask assemble assess assign assist assume
attach attempt attend attract avoid bake balance borrow bother build calculate call capture carry celebrate
challenge change charge chase check cherish choose circle claim clean clear climb close collect combine comfort
compare compete complete compose confirm connect consider construct consult contain continue contribute convert
convince cook copy correct count cover create cross cultivate decide declare decorate defend define deliver
demonstrate deny depend describe deserve design detect determine develop discover discuss display distribute divide
document donate double draft drain draw dress drift drive earn edit educate embrace emerge employ enable encourage
endorse enjoy ensure enter establish estimate evaluate examine exchange expand expect explain explore export express
extend fasten feature fetch fill filter finish fix float flourish fold follow form frame gather generate glance
govern grant greet grow guard guide handle harvest help highlight hire host identify ignore illustrate imagine
implement import improve include increase indicate inform inherit inspect inspire install insist interpret introduce
invent investigate invite join judge justify keep label launch lead learn lend lift limit list listen load locate
look maintain manage mark master measure mend mention merge migrate mix modify monitor mount move navigate negotiate
notice observe obtain offer open operate order organize outline overlook own paint pause perform persuade pick place
plant play polish possess postpone pour practice praise predict prepare present preserve prevent print produce
promote propose protect prove provide publish pull purchase pursue question raise reach read realize recall receive
recognize recommend record recover reduce reflect refuse register reject relax release rely remain remember remove
renew repair repeat replace report represent request require rescue research resolve respect respond restore retain
return reveal review revise reward ride rotate sail save schedule search secure select sell send separate serve
settle shape share shelter shift sign simplify sketch solve sort spend sponsor steer store study succeed suggest
summarize supply support surround survey sustain teach test thank tolerate trace track trade train transform
translate transport travel treat trust try uncover understand unite update upgrade urge validate value verify visit
wander wash watch weigh welcome wonder work write sing bring buy catch find forget hold
""".split()

IRREGULAR_PAST = {
    "build": "built", "choose": "chose", "draw": "drew", "drive": "drove", "grow": "grew",
    "keep": "kept", "lead": "led", "lend": "lent", "read": "read", "ride": "rode", "sell": "sold",
    "send": "sent", "spend": "spent", "teach": "taught", "understand": "understood", "write": "wrote",
    "sing": "sang", "bring": "brought", "buy": "bought", "catch": "caught", "find": "found",
    "forget": "forgot", "hold": "held",
}

FIRST_NAMES = """
Abigail Adrian Alice Amara Andre Anika Arjun Beatrice Bruno Camila Carlos Chiara Clara Daniel Daria Dmitri Elena
Elias Emeka Esther Felix Fiona Gabriel Grace Hana Hugo Imani Ingrid Isaac Jasper Julia Kai Keiko Laila Leon Lucia
Malik Marco Maya Mei Nadia Nikolai Nora Oscar Priya Rafael Rosa Samuel Sofia Tariq Theo Uma Victor Wen Yara Yusuf
Zara Martha Oliver Henry Irene Lena Omar
""".split()

LAST_NAMES = """
Abbott Alvarez Bauer Bennett Brooks Castillo Chen Dalton Dubois Ellison Ferreira Fischer Garcia Hansen Hartley
Iverson Jensen Kowalski Larsen Lindqvist Marsh Morales Nakamura Novak Okafor Olsen Patel Quinn Ramirez Reyes Rossi
Sato Schmidt Silva Thornton Tran Varga Walsh Whitaker Yamada Zhou
""".split()

PLACES = """
Aberdeen Adelaide Albany Amsterdam Auckland Austin Baltimore Bergen Boston Bristol Calgary Cambridge Chicago Cork
Denver Dublin Edinburgh Glasgow Halifax Hamilton Helsinki Houston Kingston Leeds Lisbon Liverpool Madison Manchester
Melbourne Memphis Montreal Nairobi Nashville Oakland Oslo Ottawa Oxford Perth Phoenix Portland Quebec Richmond
Sacramento Savannah Seattle Sheffield Sydney Tacoma Toronto Tucson Vancouver Wellington Winnipeg
""".split()

# Sentence templates. Slots: {n} noun, {ns} plural noun, {t} topic noun of the document, {a} adjective,
# {r} adverb, {v} base verb, {vs} third-person verb, {vd} past tense, {vg} gerund, {name} person,
# {place} city, {num} small number, {year} a year. Fixed word runs are kept short (mostly <= 4
# words) so unrelated documents share almost no word 5-grams.
TEMPLATES = """
The {a} {t} {vd} the {ns} {r}.
{name} {vd} that the {n} would {v} the {a} {ns}.
In {place}, the {ns} {vd} {r} during the {a} {t}.
Most {ns} {v} {r} when the {t} {vs} {a}.
A {a} {n} can {v} {num} {ns} in a single {t}.
Every {t} {vs} a {a} {n}, and the {ns} {v} it {r}.
{name} and {name} {vd} the {t} near the {a} {n}.
By {year}, the {ns} of {place} {vd} the {a} {t}.
Why would a {a} {n} {v} the {t} so {r}?
{vg} the {t} {vs} more {a} than {vg} a {n}.
There were {num} {ns} in the {t}, each one {a} and {a}.
The {n} of the {t} {vs} the {a} {ns} of {place}.
Some {ns} {v} {r}, while others {v} the {t} with {a} {ns}.
{name} once {vd} a {a} {t} from {place}.
It {vd} {r} that the {t} {vd} so many {ns}.
After the {t} {vd}, the {a} {ns} {vd} {r}.
Few {ns} {v} as {r} as the {a} {t} in {place}.
How can the {ns} {v} a {t} without a {a} {n}?
The {ns} {vd} {r}; the {t} still {vd} the {a} {n}.
For {num} years, {name} {vd} the {ns} at the {a} {t}.
She {vd} the {a} {t} and {vd} its {ns} {r}.
He {vs} that every {a} {t} {vs} a {n}.
They {vd} the {ns} before the {a} {t} {vd}.
We {r} {v} the {t} when the {ns} {v} {a}.
Our {a} {t} {vd} {num} {ns} last {n}.
Each {n} in {place} {vs} a {a} {t} of {ns}.
Without the {t}, the {ns} would {v} {r}.
If the {t} {vs} {r}, the {ns} will {v} the {a} {n}.
Not every {t} {vs} the {a} {ns}.
According to {name}, the {t} {vd} the {a} {n} in {year}.
The {a} {ns} near the {t} {vd} {r} all {n}.
{name} {r} {vd} the {t}, then {vd} a {a} {n}.
The {t} {vs} {a}, but its {ns} {v} {a}.
What the {ns} {vd} was a {a} {t} with {num} {ns}.
Their {t} {vd} the {a} {n} on the {n} of {place}.
Under the {a} {t}, {num} {ns} {vd} {r}.
Many {ns} still {v} the {a} {t} of {name}.
Between the {t} and the {n}, a {a} {n} {vd}.
This {t} {vs} why the {ns} {v} so {r}.
Those {ns} {vd} the {t} and {vd} its {a} {n}.
During {year}, {name} {vd} {num} {a} {ns} in {place}.
The {t} was {a}, and the {ns} were {a} too.
One {a} {t} {vd} the {n} while the {ns} {vd}.
Nobody {vd} the {t} until {name} {vd} it {r}.
Several {ns} {vd} from the {a} {t} at dawn.
Is the {t} {a} enough to {v} the {ns}?
Along the {t}, {a} {ns} {vd} {r}.
The {ns} {v} a {t} because the {n} {vs} {a}.
Later, the {t} {vd} {r} toward the {a} {ns}.
{name} {vs} {vg} {ns} more than {vg} a {t}.
Since the {t} {vd}, its {ns} have grown {a}.
The {a} {t} and the {a} {n} {vd} {r}.
Across {place}, {ns} {vd} the {t} with {a} {ns}.
Once a {t} {vs} the {n}, the {ns} {v} {r}.
A {t} from {place} {vd} the {ns} a {a} {n}.
Even the {a} {ns} {vd} when the {t} {vd}.
{name} wrote that {ns} {v} best near a {a} {t}.
The {t} is {a}, {a}, and {r} {a}.
Within {num} {ns}, the {t} {vd} {a} again.
Meanwhile, {name} {vd} the {ns} of the {a} {t}.
To {v} a {t}, the {ns} first {v} the {a} {n}.
Neither the {t} nor the {ns} {vd} the {a} {n}.
The {t} {vd} {num} times before the {ns} {vd}.
Every {n} in the {t} {vd} {r} with the {ns}.
Some say the {t} {vs} a {a} {n}, yet others {v} it.
In the {a} {t}, {name} {vd} a {n} for the {ns}.
Perhaps the {ns} {vd} {r} because the {t} was {a}.
The {ns} of {place} {r} {v} {a} {ns}.
Near {place}, a {a} {t} {vd} the {n} for {num} {ns}.
However, the {a} {t} {vd} the {ns} instead.
When {name} {vd} the {t}, the {ns} {vd} {r}.
Rarely does a {t} {v} the {a} {ns} so {r}.
Thanks to the {t}, the {ns} {vd} {a} {ns}.
It is {a} to {v} a {t} that {vs} {r}.
Nearly {num} {a} {ns} {vd} over the {t} of {place}.
Her {a} {t} {vs} {ns} that nobody else {vs}.
His {ns} {vd} the {t} with a {a} {n} of {ns}.
Still, a {t} that {vs} {r} will {v} the {ns}.
As the {t} {vd}, {name} {vd} the {a} {ns}.
Do the {ns} really {v} a {a} {t} like this?
The {a} {t} {vd} beside a {n}, {r} and {a}.
Whoever {vs} the {t} must also {v} its {ns}.
At the {t}, {ns} {vd} and {name} {vd} {r}.
Only {num} {ns} {vd} the {a} {t} on time.
The {a} {ns} of {place} {vd} the {t} and then {vd} the {a} {ns} near the {n}.
{name} {vd} the {a} {t} because the {ns} in {place} {vd} a {a} {n} every {n}.
While the {ns} {vd} the {a} {t} near the {n}, {name} quietly {vd} the {ns} of the {n}.
A {a} {n} {vd} the {t} and the {ns} {vd} it with {a} {ns} from {place}.
Nobody in {place} {vd} how the {a} {t} {vd} so many {a} {ns} in one {n}.
The {t} {vd} the {a} {n} while {name} {vd} the {ns} and the {a} {ns}.
Most {ns} in the {t} {v} the {a} {n} and {v} their {ns} with {a} {ns}.
{name} and the {ns} {vd} the {t} for {num} {ns} before the {a} {n} {vd} {r}.
Every {a} {n} in the {t} {vs} a {n} that the {ns} {vd} near {place}.
The {ns} that {name} {vd} in {place} still {v} the {a} {t} with the {n}.
If the {a} {t} {vs} the {ns} again then the {n} will {v} its {a} {ns}.
Small {ns} {vd} the {a} {t} as the {n} {vd} the {ns} of the {a} {n}.
She {vd} that the {a} {t} {vd} the {ns} and that the {n} {vd} {r}.
They {vd} the {t} to the {a} {n} so the {ns} could {v} the {a} {ns}.
His {a} {n} {vd} the {ns} of the {t} and {vd} a {a} {n} for {name}.
""".strip().splitlines()

NUMBER_WORDS = "two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty fifty".split()
NUMBER_WORDS += ["dozens", "hundreds", "several"]

# Sentence openers ("Still, the ...") add variety without long shared word runs.
OPENERS = """Still Then Later Today Often Sometimes Indeed Instead Yet Meanwhile Afterward Honestly Overall Naturally
Curiously Fortunately Unfortunately Similarly Likewise Again""".split()
