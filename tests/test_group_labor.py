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


@pytest.mark.parametrize(
    ("title", "teaser"),
    [
        ("Police union urges officers to boycott the stadium", "The Fraternal Order of Police objects to the protest."),
        ("Senator goes into labor during the committee vote", "She gave birth to a girl hours later."),
        ("Labor Day weekend travel expected to break records", "Airports brace for crowds."),
        ("Labor Department: jobless claims fall to a two-month low", "Fewer Americans filed for benefits."),
        ("Iran 'will not wage war against any nation', president says", "Tehran answered new troop deployments."),
        ("Nursing home workers charged after taunting a patient on video", "Prosecutors say the two mocked her."),
        ("Worker arrested after stabbing five at an industrial park", "Police say the suspect fled on foot."),
        ("Election workers face a new wave of threats", "Officials in three states asked for protection."),
        ("Celtics beat the Heat in overtime", "Tatum scored 41 points in the win."),
        ("Prosecutors drop plea bargaining in the fraud case", "The trial begins on Monday."),
        ("Labour leader sets out plans for the NHS", "The party wants 40,000 more appointments a week."),
        ("Teachers share the classroom tricks that work", "Twelve ideas for the first week of school."),
        ("Parcel bomb injures a worker at a sorting office", "Police link it to two earlier blasts."),
    ],
)
def test_work_words_in_other_stories_are_not_labor(title: str, teaser: str) -> None:
    assert filed(title, teaser) != "labor"


@pytest.mark.parametrize(
    ("title", "teaser"),
    [
        ("Possible nationwide rail strike already hits travelers", "Freight and passenger lines plan for a shutdown."),
        ("Meatpacking workers fall ill as the virus tears through the plant", "Dozens a day tested positive."),
        ("Nurses say mandatory overtime is driving them out", "The hospital has 200 open positions."),
        ("Farm workers die in heat as growers skip breaks", "The state had no heat standard."),
        ("Union election at the Alabama warehouse goes to a recount", "The NLRB will rule on challenged ballots."),
        ("Teachers swarm the state capitol to protest pension changes", "Schools closed in 20 districts."),
        ("Nurses march on city hall over staffing", "The hospital says it is hiring."),
    ],
)
def test_workers_at_work_are_still_labor(title: str, teaser: str) -> None:
    assert filed(title, teaser) == "labor"


@pytest.mark.parametrize(
    ("title", "teaser"),
    [
        ("Arsenal's strikers fire blanks again", "The club has scored two goals in five league games."),
        ("Students stage a walkout over gun violence", "Pupils left class at 10 a.m. in 3,000 schools."),
        ("Delegates stage walkout during the minister's speech", "The assembly was suspended for an hour."),
        ("Verdi's Aida returns to the Met", "A new staging opens the season."),
        ("World leaders speak in unison on climate", "The summit ended with a joint statement."),
        ("State legalises civil unions", "Couples can register from June."),
        ("Union Square market reopens after the storm", "Stalls were back by noon."),
    ],
)
def test_a_word_of_the_labour_movement_in_another_sense_is_not_labor(title: str, teaser: str) -> None:
    assert filed(title, teaser) != "labor"


@pytest.mark.parametrize(
    ("title", "teaser"),
    [
        ("Verdi calls a warning strike at German airports", "Ground staff want 8% more pay."),
        ("Unison members vote to strike over pay", "Hospital porters and cleaners join the action."),
        ("Strikers picket the plant gates", "The workers want a new contract."),
    ],
)
def test_the_labour_movement_itself_is_still_labor(title: str, teaser: str) -> None:
    assert filed(title, teaser) == "labor"


@pytest.mark.parametrize(
    ("title", "teaser"),
    [
        ("Miles despiden al papa en la plaza de San Pedro", "Los fieles hicieron fila durante horas."),
        ("Presos en huelga de hambre exigen ver a sus abogados", "Llevan doce días sin comer."),
        ("Ativistas em greve de fome diante do Congresso", "Eles pedem a libertação de presos políticos."),
        ("Trabajadores humanitarios llegan a la zona del terremoto", "Llevan agua y mantas."),
        ("Messi's contract talks with the club stall", "The striker wants a two-year deal."),
        ("Prisoners on hunger strike refuse food for a third week", "Guards say six were taken to hospital."),
    ],
)
def test_spanish_and_portuguese_look_alikes_and_other_strikes_are_not_labor(title: str, teaser: str) -> None:
    assert filed(title, teaser) != "labor"


@pytest.mark.parametrize(
    ("title", "teaser"),
    [
        ("Despiden a 200 trabajadores de la planta de Córdoba", "El sindicato convocó a una asamblea."),
        ("Trabajadores de la salud reclaman aumento salarial", "Marchan hoy al ministerio."),
        ("Trabalhadores dos Correios entram em greve", "Eles exigem reajuste de 10%."),
    ],
)
def test_spanish_and_portuguese_labour_stories_are_still_labor(title: str, teaser: str) -> None:
    assert filed(title, teaser) == "labor"


# Headline-only items of the kind an encyclopedia's news digest writes: one long sentence, no teaser. Each was filed
# wrongly before "union" needed a trade union's company and "workers" lost its attacks, vaccines and crashes.
@pytest.mark.parametrize(
    "title",
    [
        "The Christian Social Union wins the Bavarian state election and keeps its majority in the Landtag.",
        "In rugby union, Ireland beat Scotland 31–10 to keep the Six Nations title.",
        "The Homeland Union leads the count after the first round of the parliamentary election.",
        "Gunmen kill six road construction workers in an ambush in the highlands, police say.",
        "Five power plant workers are injured when a drone attack sets the turbine hall on fire.",
        "Health workers and care home staff get the new vaccine first, the ministry says.",
        "Emergency workers are evacuated from the plant as radiation levels rise.",
        "The Minister of Labour is appointed prime minister after the government resigns.",
        "Labour wins 47 seats and its leader is sworn in as premier.",
        "A cargo plane crash-lands and strikes a service vehicle, killing two ground crew.",
        "Security service says Revolutionary Guard officers plotted strikes on the pipeline in a foiled terror attack.",
        "Britain will help Ukraine pay the wages of its soldiers, the defence secretary says.",
    ],
)
def test_a_long_sentence_about_parties_attacks_and_vaccines_is_not_labor(title: str) -> None:
    assert filed(title) != "labor"


@pytest.mark.parametrize(
    "title",
    [
        "Ferry services return to normal after the company and its union agree to binding arbitration.",
        "Thousands of workers strike at the car plant, demanding higher wages and shorter shifts.",
        "Australian Unions call for ten days of paid family violence leave.",
        "A union election at the Alabama warehouse goes to a recount.",
    ],
)
def test_a_long_sentence_about_a_union_and_its_fight_is_still_labor(title: str) -> None:
    assert filed(title) == "labor"


# A second draw of the encyclopedia's events taught these: workers amid rebels, a crash or a booster dose; a strike
# that kills; a tax act named for jobs; a famine organised by a union of states; hard labour; a parliament's pay.
# Each was filed as Labor before.
@pytest.mark.parametrize(
    "title",
    [
        "Rebels seize the copper mine and hold forty workers in the camp for a week.",
        "Nurses and care workers in the capital receive a second booster dose this month.",
        "The family of the airport worker who crashed a stolen plane says he was denied his rights.",
        "A strike on a railway depot kills three and wounds eleven, the regional governor says.",
        "Two migrant workers are killed and several other people are injured after security forces intercept a "
        "drone over the port.",
        "Congress passes the Tax Cuts and Jobs Act, sending it to the president.",
        "A court finds leaders of the Soviet Union guilty of organizing a famine in the republic.",
        "The court sentences the leader to life and the others to ten years in prison with hard labor.",
        "Protesters rally outside parliament against wage hikes for the newly elected MPs.",
        "Dozens of unarmed steelworkers join a patrol of the city after the rebels withdraw from it.",
    ],
)
def test_workers_amid_a_war_a_crash_or_a_parliament_are_not_labor(title: str) -> None:
    assert filed(title) != "labor"


# And these were filed nowhere: a lockout, a transport strike, police against miners.
@pytest.mark.parametrize(
    "title",
    [
        "The aluminium company locks out hundreds of workers from its smelter in Quebec.",
        "A transport strike enters its third day, bringing the island to a halt.",
        "Police attack mine workers with rubber bullets and tear gas in Rustenburg.",
    ],
)
def test_a_lockout_a_transport_strike_and_miners_under_fire_are_labor(title: str) -> None:
    assert filed(title) == "labor"


# What the events the rules filed under Labor taught (the learning draws of tests/data/wcep): a party, a club's
# striker, a hunger striker, a political shutdown, a driver in a crime, a shop's name, a workplace as a venue of
# a ban, workers on a seized boat or in a murder trial, a chief of staff, soldiers' back pay, a football club, one
# man's job.
@pytest.mark.parametrize(
    "title",
    [
        "Voters hand Labor a third term in the state election.",
        "Results show gains for Labour and the Greens across the north.",
        "Former Manchester City striker signs for a Turkish side.",
        "Hunger strikers at the detention centre refuse food for a third week.",
        "The opposition calls a general strike to force the president out.",
        "Police say the driver fled after hitting two cyclists.",
        "Retail chain Bargain Books calls in administrators.",
        "Fans stage a walkout in the 77th minute over ticket prices.",
        "Smoking is banned in enclosed public places and workplaces from next month.",
        "A boat carrying 76 migrant workers is seized by the navy off the coast.",
        "Two farm workers are charged with the murder of a landowner.",
        "Navalny's chief of staff is detained for organizing a protest.",
        "The government starts paying officers back pay to end a mutiny.",
        "Real Madrid beat Grêmio in the Club World Cup final.",
        "The envoy says he lost his job because of pressure from Washington.",
    ],
)
def test_work_words_as_names_or_in_other_stories_are_not_labor(title: str) -> None:
    assert filed(title) != "labor"


def test_a_picket_of_a_weapons_fair_files_under_its_cause() -> None:
    assert filed("Pro-Palestinian protesters picket a weapons fair in Melbourne.") == "palestine"


@pytest.mark.parametrize(
    "title",
    [
        "Labour unions call a national strike for Thursday.",
        "Union Workers Walk Out At Dawn Over Pay",
        "Strikers picket the port gates for a third day.",
        "Delivery drivers protest a cut in their rates.",
        "Unions call a general strike against the pension reform.",
        "Inspectors find workplace safety violations at the factory where 38 died in a fire.",
        "The International Labour Organization warns that heat stress will cost 80 million jobs.",
    ],
)
def test_the_labour_movement_in_capitals_plurals_and_safety_is_still_labor(title: str) -> None:
    assert filed(title) == "labor"
