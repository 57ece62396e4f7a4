from spinneret.cli import main

main()
