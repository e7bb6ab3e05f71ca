#!/usr/bin/env bash
# Wheels for the borrowed GPU machine (no network; Python 3.12.3, x86-64 manylinux, with
# torch 2.11+cu130, numpy, scipy, pandas, pyarrow, scikit-learn, matplotlib, numba, opencv,
# pytest, pytest-xdist, ... preinstalled): downloads into .whl/ the rest of what dqnlab,
# src/{train,evaluate,sweep}.py and tests/ import, at the versions in .venv (pip freeze).
# pygame-ce: gymnasium.envs.box2d imports it (car_racing.py), so LunarLander needs it.
# execnet: pytest-xdist's one dependency, in case the image lacks it (pytest loads xdist).
# typing-extensions, certifi: newer than pydantic and databricks-sdk need, whatever the image has.
# Left out: psycopg[binary] (PostgreSQL tests only: tests/test_sweep_postgres.py and
# tests/test_scale_out.py fail to import) and the dev/bench/docs/slurm/ray/server extras.
# Keep .whl/ + tracked files under 60 MiB (checked at the end).
# On the GPU machine, from the repo root:
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD/src
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
rm -rf .whl && mkdir .whl
"$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
  hydra-core==1.3.8 omegaconf==2.3.1 hydra-joblib-launcher==1.2.0 \
  optuna==5.1.0 alembic==1.20.1 sqlalchemy==2.1.9 mako==1.4.3 colorlog==6.12.0 \
  gymnasium==1.4.0 farama-notifications==0.0.6 box2d==2.3.10 pygame-ce==2.5.8 ale-py==0.12.1 \
  mlflow==3.17.2 mlflow-skinny==3.17.2 mlflow-tracing==3.17.2 \
  flask==3.1.3 flask-cors==6.0.5 blinker==1.9.0 itsdangerous==2.2.0 gunicorn==26.2.0 \
  fastapi==0.165.0 starlette==1.10.0 uvicorn==0.55.0 huey==3.5.4 docker==7.2.0 \
  graphene==3.4.3 graphql-core==3.2.14 graphql-relay==3.2.0 skops==0.16.0 prettytable==3.19.0 \
  wcwidth==0.9.4 cryptography==50.0.2 cffi==2.1.1 pycparser==3.12 \
  databricks-sdk==0.167.0 google-auth==2.63.0 pyasn1==0.6.5 pyasn1-modules==0.4.2 \
  cachetools==7.3.3 gitpython==3.2.1 gitdb==4.0.12 smmap==5.0.3 importlib-metadata==9.1.0 \
  opentelemetry-api==1.45.2 opentelemetry-sdk==1.45.2 opentelemetry-proto==1.45.2 \
  opentelemetry-semantic-conventions==0.66b2 pydantic==2.14.4 pydantic-core==2.50.5 \
  annotated-types==0.8.0 typing-inspection==0.4.5 python-dotenv==1.2.4 sqlparse==0.6.1 \
  execnet==2.1.2 typing-extensions==4.16.0 certifi==2026.10.19.post1
# hydra-core/omegaconf pin antlr4-python3-runtime==4.9.*, published as an sdist only:
# build its pure-Python (py3-none-any) wheel here.
"$PY" -m pip wheel -q --no-deps --no-binary=antlr4-python3-runtime -w .whl antlr4-python3-runtime==4.9.3
rm -f .whl/*.tar.gz
wheels=$(du -cb .whl/*.whl | tail -1 | cut -f1)
tracked=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
echo "$(ls .whl/*.whl | wc -l) wheels: $((wheels / 1024)) KiB; with tracked files: $(((wheels + tracked) / 1048576)) MiB (limit 60)"
(( wheels + tracked < 60 * 1048576 ))
