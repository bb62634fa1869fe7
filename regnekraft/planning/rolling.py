"""The rolling plan from a planning input: demand per class, then what to buy or retire and
when. The one function the command line, the API and the dashboard build the plan with."""

from __future__ import annotations

from . import inputs
from . import plan as pl


def make_plan(inp: inputs.PlanningInput) -> tuple[pl.Plan, inputs.Demand]:
    demand = inputs.build_demand(inp)
    plan = pl.make_plan(
        inp.systems,
        inp.resources,
        demand.combined,
        inp.rules,
        inp.options,
        inp.plan_start,
        inp.plan_years,
        inp.target_utilisation,
    )
    return plan, demand
