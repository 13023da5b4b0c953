"""motionseg.io"""
