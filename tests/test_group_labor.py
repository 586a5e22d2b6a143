"""Labour stories told without union words, in English, Spanish and Portuguese, and their look-alikes: cases of our
own writing, filed as an editor of the newsletter would file them. Each was filed wrongly before the Labor theme
learnt jobs that go, work that stops, pay, pensions and the Spanish "paro"."""

from __future__ import annotations

import pytest
from test_group_context import filed


@pytest.mark.parametrize(
    ("title", "teaser"),
    [
        ("Amazon to cut 14,000 corporate jobs as it leans on AI", "The retailer told employees the news on Tuesday."),
        ("Volkswagen plans to shed 35,000 jobs in Germany by 2030", "The carmaker wants to close two plants."),
        ("Hundreds of Starbucks baristas walk off the job over staffing", "Stores closed early in 12 cities."),
        ("Teachers in West Virginia walk out over health insurance costs", "Schools in all 55 counties closed."),
        ("Nurses stage 24-hour stoppage over unsafe staffing levels", "Wards are dangerously short, they say."),
        ("France: hundreds of thousands march against raising the retirement age", "The pension reform passed."),
        ("Dockers shut down ports from Maine to Texas", "The longshoremen want a ban on automation."),
        ("Walmart raises starting pay for store employees", "Hourly staff will earn at least $14."),
        ("Paro nacional de transportistas paraliza Lima", "Los conductores protestan contra la extorsión."),
        ("Docentes marchan en Buenos Aires por aumento salarial", "Los gremios rechazan la oferta del gobierno."),
        ("Despiden a 300 empleados de la planta de Ford en Pacheco", "El sindicato anunció movilizaciones."),
        ("Metalúrgicos param fábricas no ABC paulista", "Os trabalhadores reivindicam reajuste acima da inflação."),
    ],
)
def test_a_labour_story_without_union_words_is_labor(title: str, teaser: str) -> None:
    assert filed(title, teaser) == "labor"


@pytest.mark.parametrize(
    ("title", "teaser"),
    [
        ("Forced labour in Xinjiang: EU bans the products", "The ban covers goods made in camps."),
        ("El paro baja en España por tercer mes consecutivo", "El desempleo registró su menor nivel desde 2008."),
        ("Jobs report beats forecasts as hiring picks up", "Employers added 250,000 jobs in January."),
        ("Diplomats walk out of the UN assembly during the speech", "Several delegations left the hall."),
        ("Fans pay tribute to the late singer outside the stadium", "Thousands gathered with candles."),
    ],
)
def test_its_look_alikes_are_not(title: str, teaser: str) -> None:
    assert filed(title, teaser) != "labor"
