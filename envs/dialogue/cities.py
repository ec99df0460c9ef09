"""The city fact table of ``turngym/GuessMyCity-v0`` (42 cities) and the rule answerer of open
questions about a city.

How :func:`answer_about_city` answers (the answerer's grammar, over the normalised question):

1. a country or continent named in the question: "Yes." or "No." ("Is it in Japan?",
   "Is it in South America?"); countries are checked first (Australia is a country here);
2. else the first topic of :data:`TOPICS` whose phrases occur: country ("where is it"),
   continent, hemisphere,
   population ("how many people", "how big"), capital, coast ("sea", "ocean", "beach"), river,
   language ("speak"), climate ("weather", "hot", "cold"), landmark ("famous", "known for",
   "sights"), food ("eat", "dish", "cuisine"), currency ("money"); yes/no topics (capital, coast)
   are answered "Yes, ..." or "No, ...", the others with the fact as a sentence. Answers never
   name the city;
3. anything else: "I can't answer that." and the topics it can answer (the turn still counts).
"""

# ruff: noqa: E501  (fact tables: one row a line reads better than wrapped rows)

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    name: str
    country: str
    continent: str  # "Europe", "Asia", ... ("Europe and Asia" for Istanbul)
    population_millions: float  # the city proper, rounded
    capital: bool
    coastal: bool
    language: str
    river: str | None
    landmark: str
    climate: str
    food: str
    currency: str
    aliases: tuple[str, ...] = ()

    @property
    def hemisphere(self) -> str:
        return "southern" if self.country in _SOUTHERN else "northern"


_SOUTHERN = {"Brazil", "Argentina", "Peru", "South Africa", "Australia", "New Zealand"}

CITIES: tuple[City, ...] = (
    City("Paris", "France", "Europe", 2.1, True, False, "French", "Seine", "an iron lattice tower built in 1889", "temperate oceanic", "croissants", "euro"),
    City("London", "the United Kingdom", "Europe", 8.9, True, False, "English", "Thames", "a clock tower called Big Ben", "temperate oceanic", "fish and chips", "pound sterling"),
    City("Rome", "Italy", "Europe", 2.8, True, False, "Italian", "Tiber", "an ancient amphitheatre, the Colosseum", "Mediterranean", "pasta", "euro"),
    City("Berlin", "Germany", "Europe", 3.6, True, False, "German", "Spree", "the Brandenburg Gate", "temperate", "currywurst", "euro"),
    City("Madrid", "Spain", "Europe", 3.3, True, False, "Spanish", "Manzanares", "the Prado art museum", "hot-summer Mediterranean", "tapas", "euro"),
    City("Barcelona", "Spain", "Europe", 1.6, False, True, "Catalan and Spanish", None, "an unfinished basilica designed by Gaudi", "Mediterranean", "paella", "euro"),
    City("Amsterdam", "the Netherlands", "Europe", 0.9, True, False, "Dutch", "Amstel", "its canals and the Anne Frank House", "temperate oceanic", "stroopwafels", "euro"),
    City("Athens", "Greece", "Europe", 0.7, True, True, "Greek", None, "the Parthenon on the Acropolis", "Mediterranean", "souvlaki", "euro"),
    City("Moscow", "Russia", "Europe", 12.5, True, False, "Russian", "Moskva", "the Kremlin and Red Square", "humid continental", "borscht", "ruble"),
    City("Istanbul", "Turkey", "Europe and Asia", 15.5, False, True, "Turkish", None, "the Hagia Sophia", "Mediterranean", "kebab", "lira"),
    City("Vienna", "Austria", "Europe", 1.9, True, False, "German", "Danube", "Schonbrunn Palace", "continental", "schnitzel", "euro"),
    City("Prague", "the Czech Republic", "Europe", 1.3, True, False, "Czech", "Vltava", "a medieval astronomical clock", "continental", "goulash and dumplings", "koruna"),
    City("Lisbon", "Portugal", "Europe", 0.5, True, True, "Portuguese", "Tagus", "the Belem Tower", "Mediterranean", "custard tarts", "euro"),
    City("Stockholm", "Sweden", "Europe", 1.0, True, True, "Swedish", None, "a museum of a sunken warship", "humid continental", "meatballs", "krona"),
    City("Dublin", "Ireland", "Europe", 0.6, True, True, "English and Irish", "Liffey", "the Guinness Storehouse", "temperate oceanic", "Irish stew", "euro"),
    City("New York", "the United States", "North America", 8.3, False, True, "English", "Hudson", "the Statue of Liberty", "humid continental", "pizza and bagels", "US dollar", ("new york city", "nyc")),
    City("Los Angeles", "the United States", "North America", 3.9, False, True, "English", None, "the Hollywood sign", "Mediterranean", "tacos", "US dollar", ("la",)),
    City("Chicago", "the United States", "North America", 2.7, False, False, "English", "Chicago River", "the Willis Tower", "humid continental", "deep-dish pizza", "US dollar"),
    City("San Francisco", "the United States", "North America", 0.8, False, True, "English", None, "the Golden Gate Bridge", "cool Mediterranean", "sourdough bread", "US dollar", ("sf",)),
    City("Washington", "the United States", "North America", 0.7, True, False, "English", "Potomac", "the White House", "humid subtropical", "half-smoke sausages", "US dollar", ("washington dc", "washington d c")),
    City("Toronto", "Canada", "North America", 2.8, False, False, "English", None, "the CN Tower", "humid continental", "peameal bacon", "Canadian dollar"),
    City("Mexico City", "Mexico", "North America", 9.2, True, False, "Spanish", None, "the ruins of the Aztec capital Tenochtitlan", "subtropical highland", "tacos al pastor", "peso"),
    City("Havana", "Cuba", "North America", 2.1, True, True, "Spanish", None, "old American cars on a seafront promenade", "tropical", "ropa vieja", "peso"),
    City("Rio de Janeiro", "Brazil", "South America", 6.7, False, True, "Portuguese", None, "a giant statue of Christ the Redeemer", "tropical", "feijoada", "real", ("rio",)),
    City("Buenos Aires", "Argentina", "South America", 3.1, True, True, "Spanish", "Rio de la Plata", "tango and the Casa Rosada", "humid subtropical", "grilled steak", "peso"),
    City("Lima", "Peru", "South America", 10.0, True, True, "Spanish", "Rimac", "a historic centre of colonial buildings", "desert", "ceviche", "sol"),
    City("Bogota", "Colombia", "South America", 7.4, True, False, "Spanish", None, "a museum full of gold", "subtropical highland", "ajiaco soup", "peso"),
    City("Cairo", "Egypt", "Africa", 10.0, True, False, "Arabic", "Nile", "the pyramids of Giza nearby", "desert", "koshari", "Egyptian pound"),
    City("Nairobi", "Kenya", "Africa", 4.4, True, False, "Swahili and English", "Nairobi River", "a national park with wild animals next to the city", "subtropical highland", "nyama choma", "shilling"),
    City("Johannesburg", "South Africa", "Africa", 5.6, False, False, "English and Zulu", None, "its gold mines", "subtropical highland", "pap and braai", "rand", ("joburg",)),
    City("Lagos", "Nigeria", "Africa", 15.0, False, True, "English and Yoruba", None, "a lagoon and huge markets", "tropical", "jollof rice", "naira"),
    City("Marrakesh", "Morocco", "Africa", 0.9, False, False, "Arabic and Berber", None, "a great square full of storytellers and stalls", "semi-arid", "tagine", "dirham", ("marrakech",)),
    City("Tokyo", "Japan", "Asia", 14.0, True, True, "Japanese", "Sumida", "a red and white broadcasting tower and a famous busy crossing", "humid subtropical", "sushi", "yen"),
    City("Kyoto", "Japan", "Asia", 1.5, False, False, "Japanese", "Kamo", "thousands of temples and shrines", "humid subtropical", "kaiseki dinners", "yen"),
    City("Beijing", "China", "Asia", 21.0, True, False, "Mandarin", None, "the Forbidden City", "humid continental", "Peking duck", "yuan", ("peking",)),
    City("Shanghai", "China", "Asia", 24.0, False, True, "Mandarin and Shanghainese", "Huangpu", "a waterfront promenade called the Bund", "humid subtropical", "soup dumplings", "yuan"),
    City("Seoul", "South Korea", "Asia", 9.7, True, False, "Korean", "Han", "a royal palace called Gyeongbokgung", "humid continental", "kimchi", "won"),
    City("Mumbai", "India", "Asia", 12.5, False, True, "Marathi and Hindi", None, "the Gateway of India arch", "tropical", "vada pav", "rupee", ("bombay",)),
    City("Delhi", "India", "Asia", 16.8, True, False, "Hindi", "Yamuna", "the Red Fort", "semi-arid", "butter chicken", "rupee", ("new delhi",)),
    City("Bangkok", "Thailand", "Asia", 10.5, True, False, "Thai", "Chao Phraya", "temples with golden roofs and a reclining Buddha", "tropical", "pad thai", "baht"),
    City("Sydney", "Australia", "Oceania", 5.3, False, True, "English", None, "an opera house shaped like sails", "humid subtropical", "meat pies", "Australian dollar"),
    City("Auckland", "New Zealand", "Oceania", 1.7, False, True, "English and Maori", None, "a tall tower with a sky walk", "temperate oceanic", "pavlova", "New Zealand dollar"),
)  # fmt: skip

#: topic -> phrases that ask about it (regular expressions over the normalised question)
TOPICS: dict[str, str] = {
    "country": r"country|nation|where (?:is|s) (?:it|the city|this city)|located|location",
    "continent": r"continent",
    "hemisphere": r"hemisphere|equator",
    "population": r"population|how many people|how big|how large|inhabitants|people live|size",
    "capital": r"capital",
    "coast": r"coast|coastal|sea|ocean|beach(?:es)?|port|seaside",
    "river": r"rivers?",
    "language": r"languages?|speak|spoken",
    "climate": r"climate|weather|temperature|hot|cold|warm|rain",
    "landmark": r"landmarks?|famous|known for|tourists?|sights?|monuments?|attractions?|visit",
    "food": r"food|foods|dish|dishes|eat|cuisine",
    "currency": r"currency|money|pay",
}
#: one suggested question per topic (the environment's suggested actions)
TOPIC_QUESTIONS: dict[str, str] = {
    "country": "What country is it in?",
    "continent": "Which continent is it on?",
    "hemisphere": "Which hemisphere is it in?",
    "population": "How many people live there?",
    "capital": "Is it a capital city?",
    "coast": "Is it on the coast?",
    "river": "Which river runs through it?",
    "language": "What language do people speak there?",
    "climate": "What is the climate like?",
    "landmark": "What is it famous for?",
    "food": "What food is it known for?",
    "currency": "What currency do they use?",
}
CONTINENTS = ("Europe", "Asia", "Africa", "North America", "South America", "Oceania")

_TOPIC_PATTERNS = {topic: re.compile(rf"\b(?:{phrases})\b") for topic, phrases in TOPICS.items()}


def _place(name: str) -> str:
    return name.lower().removeprefix("the ")


#: other names of countries in questions
COUNTRY_ALIASES = {
    "usa": "united states", "united states of america": "united states",
    "uk": "united kingdom", "britain": "united kingdom", "england": "united kingdom",
    "holland": "netherlands", "czechia": "czech republic", "korea": "south korea",
}  # fmt: skip
_COUNTRIES = sorted({_place(c.country) for c in CITIES} | set(COUNTRY_ALIASES), key=len,
                    reverse=True)  # fmt: skip


def answer_about_city(city: City, question: str) -> tuple[str, str | None]:
    """The answer to a normalised question about ``city`` (see the module docstring) and the
    fact it reveals (``"country=japan"``, ``"coast=yes"``; ``None`` when unanswered)."""
    for country in _COUNTRIES:  # longest first: "south africa" before "africa"
        if re.search(rf"\b{re.escape(country)}\b", question):
            country = COUNTRY_ALIASES.get(country, country)
            yes = _place(city.country) == country
            return ("Yes." if yes else "No."), f"in {country}={'yes' if yes else 'no'}"
    for continent in CONTINENTS:
        if re.search(rf"\b{continent.lower()}\b", question):
            yes = continent in city.continent
            return ("Yes." if yes else "No."), f"in {continent.lower()}={'yes' if yes else 'no'}"
    for topic, pattern in _TOPIC_PATTERNS.items():
        if pattern.search(question):
            return _topic_answer(city, topic), topic
    topics = ", ".join(TOPICS)
    return f"I can't answer that. Ask me about its {topics}, or guess the city.", None


def _topic_answer(city: City, topic: str) -> str:
    if topic == "capital":
        return "Yes, it is a capital." if city.capital else "No, it is not a capital."
    if topic == "coast":
        return "Yes, it is on the coast." if city.coastal else "No, it is not on the coast."
    if topic == "population":
        millions = f"{city.population_millions:.1f}".removesuffix(".0")
        return f"About {millions} million people live there."
    if topic == "river":
        if city.river is None:
            return "No major river runs through it."
        if city.name.lower() in city.river.lower():  # the Chicago River would name the city
            return "A river of the same name runs through it."
        return f"The {city.river} runs through it."
    sentences = {
        "country": f"It is in {city.country}.",
        "continent": f"It is in {city.continent}.",
        "hemisphere": f"It is in the {city.hemisphere} hemisphere.",
        "language": f"People there speak {city.language}.",
        "climate": f"It has a {city.climate} climate.",
        "landmark": f"It is known for {city.landmark}.",
        "food": f"A local favourite is {city.food}.",
        "currency": f"People pay with the {city.currency}.",
    }  # fmt: skip
    return sentences[topic]
