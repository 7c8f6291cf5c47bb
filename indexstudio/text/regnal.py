"""Given names that kings, queens and popes share in French, Italian, Portuguese and Spanish, which a Roman
numeral after them numbers ("Louis XIV", "Carlo V", "Dom Pedro I", "Isabel II"); a queen's takes a feminine
ordinal ("Isabel segunda", "Dona Maria primeira")."""

KINGS = set("""Louis Henri Charles François Philippe Jean Napoléon Pie Benoît Léon Grégoire Innocent Clément Urbain
Paul Édouard Guillaume Richard Georges Jacques Frédéric Nicolas Alexandre Pierre Ferdinand Alphonse Sixte Boniface
Jules Eugène Humbert Rodolphe Othon Lothaire Clovis Childéric Dagobert Pépin Robert Hugues Luigi Enrico Carlo Francesco
Filippo Giovanni Pio Paolo Benedetto Leone Gregorio Innocenzo Clemente Urbano Umberto Ferdinando Federico Giacomo
Guglielmo Edoardo Alessandro Sisto Bonifacio Giulio Pietro Napoleone Riccardo Giorgio Emanuele Amedeo Ottone Rodolfo
Eugenio Nicola Adriano Martino Callisto Marcello Stefano Pedro João Manuel Afonso Sebastião José Carlos Luís Luiz Filipe
Dinis Duarte Fernando Henrique Sancho Miguel Paulo Bento Leão Gregório Inocêncio Jorge Eduardo Guilherme Ricardo
Napoleão Francisco Nicolau Felipe Alfonso Juan Enrique Jaime Luis Pío Pablo Benedicto León Inocencio Guillermo
Napoleón Amadeo Ramiro Ordoño Bermudo García Martín Alejandro Nicolás Sixto Julio""".split())
QUEENS = set("""Élisabeth Elisabeth Marie Catherine Anne Isabelle Victoria Christine Jeanne Marguerite Elisabetta Maria
Caterina Giovanna Isabella Vittoria Cristina Anna Margherita Isabel Elizabeth Catarina Joana Ana Beatriz Teresa Vitória
Juana Catalina Urraca Berenguela Leonor""".split())
