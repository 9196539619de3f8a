"""French, German and Spanish prose for the synthetic corpus's ``non_english`` documents.

Real words in grammatical sentence templates (articles and contractions handled), so a language-ID
model such as fastText's ``lid.176`` classifies them confidently as their language. Stdlib only.
"""

from __future__ import annotations

import random
import re

LANGUAGES = ("fr", "de", "es")

_FR_NOUNS = """le marché|la ville|le village|la rivière|le jardin|la maison|le musée|la bibliothèque|
le professeur|la voisine|le boulanger|la boulangerie|le château|la montagne|le pont|la gare|le train|
la voiture|le livre|la lettre|le journal|la fenêtre|la porte|le chemin|la forêt|le lac|la mer|le port|
le bateau|la plage|le restaurant|la cuisine|le repas|la soupe|le fromage|le vin|la table|le bureau|
l'entreprise|l'ordinateur|le projet|la réunion|le directeur|la directrice|l'équipe|le quartier|la rue|
la place|l'église|le théâtre|le concert|la chanson|le peintre|le tableau|la photo|le médecin|l'hôpital|
l'école|l'élève|l'enfant|la famille|le père|la mère|le frère|la sœur|l'ami|le chat|le chien|le cheval|
l'oiseau|l'arbre|la fleur|le vent|la pluie|le soleil|la saison|l'histoire|la région|le pays|
le gouvernement|la mairie|le maire|le festival|le voyage|la valise|le billet|l'avion|l'aéroport|
le vélo|la boutique|le client|la recette|le gâteau|le pain|le café|la tasse|la cathédrale|le tableau"""
_FR_VERBS = """visite:a visité|prépare:a préparé|regarde:a regardé|cherche:a cherché|trouve:a trouvé|
achète:a acheté|vend:a vendu|ouvre:a ouvert|ferme:a fermé|répare:a réparé|décrit:a décrit|
observe:a observé|organise:a organisé|présente:a présenté|attend:a attendu|protège:a protégé|
transforme:a transformé|décore:a décoré|partage:a partagé|remplace:a remplacé|découvre:a découvert|
raconte:a raconté|montre:a montré|choisit:a choisi|construit:a construit|nettoie:a nettoyé|
dessine:a dessiné|traverse:a traversé|quitte:a quitté|rejoint:a rejoint|accueille:a accueilli|
écoute:a écouté|garde:a gardé|explique:a expliqué|étudie:a étudié|compare:a comparé|
annonce:a annoncé|soutient:a soutenu|agrandit:a agrandi|rénove:a rénové|améliore:a amélioré"""
_FR_ADJ = """rapide calme simple moderne célèbre pratique énorme jeune riche pauvre tranquille magnifique
immense fragile solide utile agréable honnête étrange rouge jaune large sympathique typique propre
confortable difficile facile aimable triste célèbre sombre"""
_FR_ADV = """souvent|toujours|rarement|lentement|rapidement|doucement|hier|aujourd'hui|demain|encore|
déjà|ensemble|vraiment|parfois|longtemps|tranquillement|soigneusement|finalement|surtout|chaque jour"""
_FR_NAMES = "Camille Julien Mathilde Antoine Élodie Lucas Chloé Théo Margaux Hugo Manon Louis Inès Baptiste"
_FR_PLACES = "Lyon Marseille Bordeaux Toulouse Nantes Lille Strasbourg Rennes Grenoble Dijon Montpellier"
_FR_TEMPLATES = """{n} {v} {n} {r}.
Chaque matin, {n} {v} {n} près de {place}.
Selon {name}, {n} {vp} {n} l'année dernière.
Dans {n}, on trouve toujours quelque chose de {a}.
Il faut dire que {n} est très {a} en hiver.
Pendant la semaine, {name} {v} {n} avec beaucoup de patience.
{n} n'est pas {a}, mais {n} reste {a}.
Les habitants de {place} pensent que {n} est {a}.
Après le déjeuner, {name} {vp} {n} et {vp} {n}.
Nous avons parlé avec {name} de {n} et de {n}.
C'est pourquoi {n} {v} {n} {r}.
À {place}, {n} {vp} {n} pour la première fois.
Personne ne sait pourquoi {n} {v} {n}.
Je pense que {n} est plus {a} que {n}.
Depuis {num} ans, {name} {v} {n} sans jamais se plaindre.
Elle {vp} {n} avant de quitter {n}.
On dit souvent que {n} {v} {n} quand il fait beau.
Le soir, {n} devient {a} et {a}.
Quand {name} est arrivé à {place}, {n} était déjà {a}.
Il y a {num} ans, {n} {vp} {n} dans {n}.
Grâce à {n}, {n} {v} {n} {r}.
Nous savons que {n} {v} {n} pendant les vacances.
Pourtant, {name} {vp} {n} sans rien dire à {n}."""

_DE_NOUNS = """m:Markt m:Bahnhof m:Garten m:Lehrer m:Bäcker m:Nachbar m:Zug m:Wagen m:Brief m:Tisch m:Stuhl
m:Weg m:Fluss m:See m:Berg m:Wald m:Hafen m:Strand m:Kuchen m:Käse m:Wein m:Kaffee m:Direktor m:Arzt
m:Maler m:Freund m:Bruder m:Vater m:Hund m:Vogel m:Baum m:Wind m:Regen m:Winter m:Sommer m:Monat
m:Verein m:Bürgermeister m:Koffer m:Flughafen m:Laden m:Preis m:Turm m:Platz f:Stadt f:Straße
f:Brücke f:Kirche f:Schule f:Bibliothek f:Küche f:Suppe f:Mutter f:Schwester f:Familie f:Firma
f:Gemeinde f:Blume f:Sonne f:Woche f:Geschichte f:Region f:Regierung f:Reise f:Zeitung f:Tür
f:Wohnung f:Bäckerei f:Insel f:Lampe f:Uhr f:Tasche f:Ausstellung f:Mannschaft f:Nachricht n:Haus
n:Dorf n:Museum n:Theater n:Konzert n:Lied n:Bild n:Foto n:Krankenhaus n:Kind n:Pferd n:Fenster
n:Auto n:Fahrrad n:Boot n:Schiff n:Buch n:Restaurant n:Essen n:Brot n:Projekt n:Büro n:Unternehmen
n:Land n:Schloss n:Rathaus n:Gebäude n:Zimmer n:Geschäft n:Fest n:Flugzeug n:Problem n:Wetter"""
_DE_ARTICLES = {"m": ("der", "den", "dem"), "f": ("die", "die", "der"), "n": ("das", "das", "dem")}
_DE_VERBS = """besucht:besuchte|baut:baute|öffnet:öffnete|schließt:schloss|repariert:reparierte|
beschreibt:beschrieb|beobachtet:beobachtete|organisiert:organisierte|präsentiert:präsentierte|
schützt:schützte|verändert:veränderte|teilt:teilte|ersetzt:ersetzte|entdeckt:entdeckte|zeigt:zeigte|
wählt:wählte|reinigt:reinigte|zeichnet:zeichnete|verlässt:verließ|hört:hörte|trägt:trug|
erklärt:erklärte|vergleicht:verglich|fotografiert:fotografierte|feiert:feierte|
unterstützt:unterstützte|renoviert:renovierte|verbessert:verbesserte|kauft:kaufte|
verkauft:verkaufte|sucht:suchte|findet:fand|bringt:brachte|plant:plante|malt:malte|liest:las|
beschreibt:beschrieb|bewundert:bewunderte|empfiehlt:empfahl"""
_DE_ADJ = """schön alt neu groß klein ruhig laut hell dunkel freundlich wichtig schnell langsam teuer billig
modern berühmt praktisch gemütlich seltsam einfach schwierig warm kalt breit schmal interessant
bekannt sauber voll leer herrlich"""
_DE_ADV = """oft|immer|selten|heute|gestern|morgen|schon|wieder|gern|sorgfältig|endlich|plötzlich|
manchmal|zusammen|eigentlich|natürlich|wirklich|jeden Tag|am Wochenende|ziemlich früh"""
_DE_NAMES = "Jonas Lena Lukas Anna Felix Marie Paul Sophie Leon Hannah Moritz Clara Jakob Greta"
_DE_PLACES = "Berlin Hamburg München Köln Leipzig Dresden Bremen Stuttgart Nürnberg Freiburg Hannover"
_DE_TEMPLATES = """{nn} {v} {na} {r}.
Jeden Morgen {v} {nn} {na} in {place}.
Nach Angaben von {name} {vd} {nn} {na} im letzten Jahr.
In {place} {v} {nn} {na} mit großer Geduld.
{name} sagt, dass {nn} sehr {a} ist.
Mit {nd} {vd} {nn} {na} {r}.
{nn} ist nicht {a}, aber {nn} bleibt {a}.
Die Leute in {place} glauben, dass {nn} {a} ist.
Nach dem Essen {vd} {name} {na} und {vd} {na}.
Warum {v} {nn} {na} so {r}?
Seit {num} Jahren {v} {name} {na} ohne Pause.
Am Abend wird {nn} {a} und {a}.
Als {name} nach {place} kam, war {nn} schon {a}.
Vor {num} Jahren {vd} {nn} {na} in {place}.
Ohne {na} {v} {nn} {na} nicht.
Wir haben mit {name} über {na} gesprochen.
Im Sommer {v} {nn} {na} besonders gern.
Deshalb {v} {nn} {na} {r}.
Niemand weiß, warum {nn} {na} {v}.
Trotzdem {vd} {name} {na} bei {nd}.
Bei schönem Wetter {v} {nn} {na} mit {nd}.
Meiner Meinung nach ist {nn} viel zu {a}."""

_ES_NOUNS = """el mercado|la ciudad|el pueblo|el río|el jardín|la casa|el museo|la biblioteca|el profesor|
la vecina|el panadero|la panadería|el castillo|la montaña|el puente|la estación|el tren|el coche|
el libro|la carta|el periódico|la ventana|la puerta|el camino|el bosque|el lago|el mar|el puerto|
el barco|la playa|el restaurante|la cocina|la comida|la sopa|el queso|el vino|la mesa|la silla|
la oficina|la empresa|el ordenador|el proyecto|la reunión|el director|la directora|el equipo|
el barrio|la calle|la plaza|la iglesia|el teatro|el concierto|la canción|el pintor|el cuadro|la foto|
el médico|el hospital|la escuela|el alumno|el niño|la familia|el padre|la madre|el hermano|
la hermana|el amigo|el gato|el perro|el caballo|el pájaro|el árbol|la flor|el viento|la lluvia|el sol|
la temporada|la historia|la región|el país|el gobierno|el ayuntamiento|el alcalde|el festival|
el viaje|la maleta|el billete|el avión|el aeropuerto|la bicicleta|la tienda|el cliente|la receta|
el pastel|el pan|el café|la taza|la catedral"""
_ES_VERBS = """visita:visitó|prepara:preparó|mira:miró|busca:buscó|encuentra:encontró|compra:compró|
vende:vendió|abre:abrió|cierra:cerró|repara:reparó|describe:describió|observa:observó|
organiza:organizó|presenta:presentó|espera:esperó|protege:protegió|transforma:transformó|
decora:decoró|comparte:compartió|reemplaza:reemplazó|descubre:descubrió|cuenta:contó|muestra:mostró|
elige:eligió|construye:construyó|limpia:limpió|dibuja:dibujó|cruza:cruzó|deja:dejó|recibe:recibió|
escucha:escuchó|lleva:llevó|guarda:guardó|aprende:aprendió|explica:explicó|estudia:estudió|
compara:comparó|anuncia:anunció|celebra:celebró|apoya:apoyó|renueva:renovó|mejora:mejoró"""
_ES_ADJ = """grande importante amable elegante enorme fácil difícil útil popular verde alegre triste fuerte
dulce breve simple interesante agradable increíble natural especial normal feliz joven azul gris
común central cultural tradicional"""
_ES_ADV = """siempre|a menudo|hoy|ayer|mañana|todavía|ya|otra vez|juntos|lentamente|rápidamente|
finalmente|realmente|a veces|pronto|temprano|tarde|con cuidado|tranquilamente|cada día"""
_ES_NAMES = "Lucía Mateo Carmen Javier Sofía Diego Pablo Elena Marta Álvaro Paula Sergio Irene Andrés"
_ES_PLACES = "Madrid Sevilla Valencia Bilbao Granada Málaga Zaragoza Toledo Salamanca Córdoba Cádiz"
_ES_TEMPLATES = """{n} {v} {n} {r}.
Cada mañana, {n} {v} {n} cerca de {place}.
Según {name}, {n} {vp} {n} el año pasado.
En {n} siempre hay algo {a} que descubrir.
Hay que decir que {n} es muy {a} en invierno.
Durante la semana, {name} {v} {n} con mucha paciencia.
{n} no es {a}, pero {n} sigue siendo {a}.
Los vecinos de {place} creen que {n} es {a}.
Después del almuerzo, {name} {vp} {n} y {vp} {n}.
Hablamos con {name} de {n} y de {n}.
Por eso {n} {v} {n} {r}.
En {place}, {n} {vp} {n} por primera vez.
Nadie sabe por qué {n} {v} {n}.
Creo que {n} es más {a} que {n}.
Desde hace {num} años, {name} {v} {n} sin quejarse.
Ella {vp} {n} antes de salir de {n}.
Se dice que {n} {v} {n} cuando hace buen tiempo.
Por la noche, {n} se vuelve {a} y {a}.
Cuando {name} llegó a {place}, {n} ya era {a}.
Hace {num} años, {n} {vp} {n} en {n}.
Gracias a {n}, {n} {v} {n} {r}.
Sin embargo, {name} {vp} {n} sin decir nada a {n}.
Todos sabemos que {n} {v} {n} durante las vacaciones."""


def _bar(s: str) -> list[str]:
    return [w.strip() for w in s.split("|") if w.strip()]


def _pairs(s: str) -> tuple[list[str], list[str]]:
    pairs = [p.split(":") for p in _bar(s)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _compile(templates: str) -> list[list[str]]:
    return [re.split(r"\{(\w+)\}", t) for t in templates.splitlines()]


def _build() -> dict[str, dict]:
    fr_v, fr_vp = _pairs(_FR_VERBS)
    es_v, es_vp = _pairs(_ES_VERBS)
    de_v, de_vd = _pairs(_DE_VERBS)
    de_nouns = [tuple(x.split(":")) for x in _DE_NOUNS.split()]
    return {
        "fr": {"n": _bar(_FR_NOUNS), "v": fr_v, "vp": fr_vp, "a": _FR_ADJ.split(), "r": _bar(_FR_ADV),
               "name": _FR_NAMES.split(), "place": _FR_PLACES.split(), "templates": _compile(_FR_TEMPLATES),
               "fixes": ((" de le ", " du "), (" à le ", " au "), ("À le ", "Au "))},
        "de": {"nn": [f"{_DE_ARTICLES[g][0]} {w}" for g, w in de_nouns],
               "na": [f"{_DE_ARTICLES[g][1]} {w}" for g, w in de_nouns],
               "nd": [f"{_DE_ARTICLES[g][2]} {w}" for g, w in de_nouns],
               "v": de_v, "vd": de_vd, "a": _DE_ADJ.split(), "r": _bar(_DE_ADV),
               "name": _DE_NAMES.split(), "place": _DE_PLACES.split(), "templates": _compile(_DE_TEMPLATES),
               "fixes": ()},
        "es": {"n": _bar(_ES_NOUNS), "v": es_v, "vp": es_vp, "a": _ES_ADJ.split(), "r": _bar(_ES_ADV),
               "name": _ES_NAMES.split(), "place": _ES_PLACES.split(), "templates": _compile(_ES_TEMPLATES),
               "fixes": ((" de el ", " del "), (" a el ", " al "))},
    }


_LEX = _build()


def _sentence(rng: random.Random, lex: dict, parts: list[str]) -> str:
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(part)
        elif part == "num":
            out.append(str(rng.randint(2, 40)))
        else:
            out.append(rng.choice(lex[part]))
    s = "".join(out)
    return s[0].upper() + s[1:]


def foreign_document(rng: random.Random, lang: str, min_words: int = 90) -> str:
    """A 2-4 paragraph document of ``lang`` prose ("fr", "de" or "es") with at least ``min_words`` words."""
    lex = _LEX[lang]
    templates = lex["templates"]
    order = rng.sample(range(len(templates)), len(templates))
    target = rng.randint(min_words, min_words + 120)
    sentences: list[str] = []
    n_words = 0
    while n_words < target:
        s = _sentence(rng, lex, templates[order[len(sentences) % len(order)]])
        sentences.append(s)
        n_words += s.count(" ") + 1
    n_par = max(1, min(rng.randint(2, 4), len(sentences) // 3))
    cuts = sorted(rng.sample(range(1, len(sentences)), n_par - 1)) if n_par > 1 else []
    bounds = [0, *cuts, len(sentences)]
    text = "\n\n".join(" ".join(sentences[a:b]) for a, b in zip(bounds, bounds[1:]))
    for old, new in lex["fixes"]:
        text = text.replace(old, new)
    return text
