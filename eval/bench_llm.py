"""LLM benchmark (cold/warm load, prefill/decode tok/s, peak RSS); same code as `convrec bench llm`.

Usage: python eval/bench_llm.py [--model NAME ...] [--runs 3] [--new-tokens 32] [--out DIR]
"""

import sys

from convrec.models.bench import main

if __name__ == "__main__":
    sys.exit(main())
