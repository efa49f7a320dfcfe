"""python -m synthetic: build the embedded dataset (synthetic/build.py)."""
from synthetic.build import main

main()
