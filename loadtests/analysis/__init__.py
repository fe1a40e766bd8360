"""Reading a results document against the SLOs: bottlenecks, recommendations, budgets, index suggestions.

    engine        `analyze`: the whole analysis of one run (pure)
    model         SLO limits (views of `loadtests.slo.spec.Threshold`) and the verdict table
    bottlenecks   the five bottleneck categories per endpoint
    recommend     recommendations tied to their evidence
    budget        error-budget burn rates
    compare       a run against its baseline run
    sources       the index suggestions' inputs: the reference app's SQL, pg_stat_statements,
                  the migration's indexes (parsed by the `indexes` package)
    result        the `Analysis` the renderers read
    errors        AnalysisError and the error tree an analysis can meet

It reads `loadtests.results` and `loadtests.slo` and never imports the CLI or the renderers
(`loadtests.cli.analyze` and `loadtests.report` import it).
"""
