from breakglass.cli import main

main()
