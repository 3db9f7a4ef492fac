from posthoc.cli import main

main()
